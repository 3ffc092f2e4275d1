package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

type verifyOptions struct {
	Layout    string
	Version   string
	Platforms []string
	Log       io.Writer
}

// verify checks the OCI image layout that build wrote (see the package comment).
func verify(o verifyOptions) error {
	p, err := layout.FromPath(o.Layout)
	if err != nil {
		return fmt.Errorf("reading the OCI layout %s: %w", o.Layout, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return fmt.Errorf("reading %s/index.json: %w", o.Layout, err)
	}
	idx, err := taggedIndex(top, o.Version)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Layout, err)
	}
	if err := validate.Index(idx); err != nil {
		return fmt.Errorf("%s: the index does not match its blobs: %w", o.Layout, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	var got []string
	ran := false
	for _, d := range im.Manifests {
		if d.Platform == nil {
			return fmt.Errorf("%s: manifest %s names no platform", o.Layout, d.Digest)
		}
		plat := d.Platform.OS + "/" + d.Platform.Architecture
		got = append(got, plat)
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		bin, err := checkImage(img, plat, o.Version)
		if err != nil {
			return fmt.Errorf("%s: the %s image: %w", o.Layout, plat, err)
		}
		if plat == runtime.GOOS+"/"+runtime.GOARCH {
			if err := runVersion(bin, o.Version, o.Log); err != nil {
				return fmt.Errorf("%s: the %s image: %w", o.Layout, plat, err)
			}
			ran = true
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(o.Platforms))
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s: the index names the platforms %v, want %v", o.Layout, got, want)
	}
	if !ran {
		fmt.Fprintf(o.Log, "[image] %s/%s is not in the image: no binary run\n", runtime.GOOS, runtime.GOARCH)
	}
	fmt.Fprintf(o.Log, "[image] OCI layout %s OK: %s, version %s\n", o.Layout, strings.Join(got, ", "), o.Version)
	return nil
}

// taggedIndex returns the image index the layout's index.json names version
// (org.opencontainers.image.ref.name).
func taggedIndex(top v1.ImageIndex, version string) (v1.ImageIndex, error) {
	m, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Annotations[refNameKey] == version {
			if !d.MediaType.IsIndex() {
				return nil, fmt.Errorf("%s is a %s, not an image index", version, d.MediaType)
			}
			return top.ImageIndex(d.Digest)
		}
	}
	return nil, fmt.Errorf("index.json names no image %q (%s)", version, refNameKey)
}

// checkImage checks an image's config and returns its dbctl binary.
func checkImage(img v1.Image, plat, version string) ([]byte, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	switch {
	case cf.OS+"/"+cf.Architecture != plat:
		return nil, fmt.Errorf("config is for %s/%s", cf.OS, cf.Architecture)
	case !slices.Equal(cf.Config.Entrypoint, []string{entrypoint}):
		return nil, fmt.Errorf("entrypoint %q, want [%s]", cf.Config.Entrypoint, entrypoint)
	case cf.Config.User != imageUser:
		return nil, fmt.Errorf("user %q, want %s", cf.Config.User, imageUser)
	case cf.Config.Labels["org.opencontainers.image.version"] != version:
		return nil, fmt.Errorf("label org.opencontainers.image.version %q, want %q", cf.Config.Labels["org.opencontainers.image.version"], version)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		bin, err := findBinary(l)
		if err != nil || bin != nil {
			return bin, err
		}
	}
	return nil, errors.New("no layer holds dbctl")
}

// findBinary returns the content of /dbctl in layer l (nil when it has none),
// failing when it is not an executable regular file.
func findBinary(l v1.Layer) ([]byte, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(hdr.Name, "/") != strings.TrimPrefix(entrypoint, "/") {
			continue
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Mode&0o111 != 0o111 {
			return nil, fmt.Errorf("%s is not an executable file (type %c, mode %o)", entrypoint, hdr.Typeflag, hdr.Mode)
		}
		return io.ReadAll(tr)
	}
}

// runVersion runs `dbctl version` from the image's binary; its output must name
// version.
func runVersion(bin []byte, version string, log io.Writer) error {
	dir, err := os.MkdirTemp("", "dbctl-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "dbctl")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(path, "version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("dbctl version: %w\n%s", err, out)
	}
	if !strings.Contains(string(out), version) {
		return fmt.Errorf("dbctl version says %q, not version %s", strings.TrimSpace(string(out)), version)
	}
	fmt.Fprintf(log, "[image] %s/%s: /dbctl version: %s\n", runtime.GOOS, runtime.GOARCH, strings.TrimSpace(string(out)))
	return nil
}
