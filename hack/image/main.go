// Command image builds dbctl's container image without Docker, and checks it.
//
// The machines that build dbctl reach no image registry, so there is no base image
// to pull: the image is the static dbctl binary (CGO_ENABLED=0) alone on an empty
// base, assembled with github.com/google/go-containerregistry as an OCI image
// layout directory holding a multi-platform index (linux/amd64, linux/arm64), and,
// for each platform, a tarball that `docker load` reads.
//
//	go run ./hack/image build  -dist dist   # after goreleaser: dist/image, dist/*.image.tar
//	go run ./hack/image verify -dist dist   # what make release-snapshot checks
//
// build reads goreleaser's dist/metadata.json (the version and commit) and
// dist/artifacts.json (the binaries of the build with id "image"). Each image has
// one layer: /dbctl (mode 0755, owned by root) and an empty /tmp (1777). Its config
// runs /dbctl as user 65532:65532, numerically, so no /etc/passwd is needed; labels
// name the version and commit. Timestamps are the binary's (goreleaser sets it to
// the commit's), so the same binaries make the same digests.
//
// verify checks every digest and size of the layout (validate.Index), that its index
// names exactly the expected platforms, that each image's entrypoint is /dbctl and
// its user 65532:65532, that its layer holds an executable dbctl, and, for the
// platform of this machine, extracts that dbctl and runs `dbctl version`, which must
// show the version of dist/metadata.json.
package main

import (
	"flag"
	"fmt"
	"os"
)

// defaultRepo is the image's name in the docker tarballs and the README.
const defaultRepo = "ghcr.io/dbctl-io/dbctl"

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = buildMain(os.Args[2:])
	case "verify":
		err = verifyMain(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "[image] error:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go run ./hack/image build|verify [-dist dist] [flags]")
	os.Exit(2)
}

func buildMain(args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	dist := fs.String("dist", "dist", "goreleaser's dist directory")
	buildID := fs.String("build-id", "image", "the goreleaser build whose linux binaries go into the image")
	out := fs.String("out", "", "the OCI image layout to write (default DIST/image)")
	repo := fs.String("repo", defaultRepo, "the image name in the docker tarballs")
	_ = fs.Parse(args)
	if *out == "" {
		*out = *dist + "/image"
	}
	meta, err := readMetadata(*dist)
	if err != nil {
		return err
	}
	bins, err := readBinaries(*dist, *buildID)
	if err != nil {
		return err
	}
	return build(buildOptions{Meta: meta, Binaries: bins, Layout: *out, Dist: *dist, Repo: *repo, Log: os.Stderr})
}

func verifyMain(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	dist := fs.String("dist", "dist", "goreleaser's dist directory (for the version)")
	dir := fs.String("layout", "", "the OCI image layout (default DIST/image)")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "the platforms the index must name, exactly")
	_ = fs.Parse(args)
	if *dir == "" {
		*dir = *dist + "/image"
	}
	meta, err := readMetadata(*dist)
	if err != nil {
		return err
	}
	return verify(verifyOptions{Layout: *dir, Version: meta.Version, Platforms: splitList(*platforms), Log: os.Stderr})
}
