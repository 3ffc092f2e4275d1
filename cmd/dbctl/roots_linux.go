package main

// The container image (hack/image) holds /dbctl alone: no /etc/ssl/certs. Without
// roots, every https dependency check (spec.dependencies[].url) would fail TLS
// verification. The fallback bundle (Mozilla's, via golang.org/x/crypto) is used
// only where the system has no certificates; anywhere else the system's are.
import _ "golang.org/x/crypto/x509roots/fallback"
