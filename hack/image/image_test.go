package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// fakeDist builds a stand-in for dbctl (it prints "dbctl VERSION" for `version`)
// for linux/amd64 and linux/arm64 with CGO_ENABLED=0, and writes the metadata.json
// and artifacts.json goreleaser would, into a temporary dist directory.
func fakeDist(t *testing.T, version string) string {
	t.Helper()
	dist := t.TempDir()
	src := filepath.Join(dist, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := "package main\n\nimport (\"fmt\"; \"os\")\n\nvar v string\n\nfunc main() {\n\tif len(os.Args) > 1 && os.Args[1] == \"version\" {\n\t\tfmt.Println(\"dbctl \" + v)\n\t}\n}\n"
	mustWrite(t, filepath.Join(src, "main.go"), prog)
	mustWrite(t, filepath.Join(src, "go.mod"), "module fake\n\ngo 1.22\n")
	var arts []map[string]any
	mtime := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, arch := range []string{"amd64", "arm64"} {
		out := filepath.Join(dist, "image_linux_"+arch, "dbctl")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.v="+version, "-o", out, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=-mod=mod", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the stand-in for %s: %v\n%s", arch, err, b)
		}
		if err := os.Chtimes(out, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		arts = append(arts, map[string]any{"name": "dbctl", "path": out, "goos": "linux", "goarch": arch,
			"type": "Binary", "extra": map[string]any{"ID": "image", "Binary": "dbctl"}})
	}
	// Binaries of other builds are not in the image.
	arts = append(arts, map[string]any{"name": "dbctl", "path": "/nonexistent", "goos": "linux", "goarch": "amd64",
		"type": "Binary", "extra": map[string]any{"ID": "dbctl"}})
	data, _ := json.Marshal(arts)
	mustWrite(t, filepath.Join(dist, "artifacts.json"), string(data))
	meta, _ := json.Marshal(map[string]any{"project_name": "dbctl", "version": version, "commit": "0123abcd"})
	mustWrite(t, filepath.Join(dist, "metadata.json"), string(meta))
	return dist
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func buildFake(t *testing.T, dist string) {
	t.Helper()
	meta, err := readMetadata(dist)
	if err != nil {
		t.Fatal(err)
	}
	bins, err := readBinaries(dist, "image")
	if err != nil {
		t.Fatal(err)
	}
	if len(bins) != 2 {
		t.Fatalf("binaries %+v", bins)
	}
	if err := build(buildOptions{Meta: meta, Binaries: bins, Layout: filepath.Join(dist, "image"), Dist: dist,
		Repo: defaultRepo, Log: io.Discard}); err != nil {
		t.Fatal(err)
	}
}

func TestBuildAndVerify(t *testing.T) {
	const version = "0.1.1-snapshot+abc1234"
	dist := fakeDist(t, version)
	buildFake(t, dist)
	var log strings.Builder
	opts := verifyOptions{Layout: filepath.Join(dist, "image"), Version: version, Platforms: []string{"linux/arm64", "linux/amd64"}, Log: &log}
	if err := verify(opts); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64") &&
		!strings.Contains(log.String(), "/dbctl version: dbctl "+version) {
		t.Fatalf("the host's binary was not run:\n%s", log.String())
	}

	// The same binaries make the same image: the digests are reproducible.
	p, _ := layout.FromPath(opts.Layout)
	first, _ := p.ImageIndex()
	d1, _ := first.Digest()
	buildFake(t, dist)
	p, _ = layout.FromPath(opts.Layout)
	second, _ := p.ImageIndex()
	if d2, _ := second.Digest(); d1 != d2 {
		t.Fatalf("index.json digest %s, then %s", d1, d2)
	}

	// Wrong expectations fail.
	for name, o := range map[string]verifyOptions{
		"another version":  {Layout: opts.Layout, Version: "9.9.9", Platforms: opts.Platforms, Log: io.Discard},
		"another platform": {Layout: opts.Layout, Version: version, Platforms: []string{"linux/amd64"}, Log: io.Discard},
		"no layout":        {Layout: filepath.Join(dist, "nope"), Version: version, Platforms: opts.Platforms, Log: io.Discard},
	} {
		if err := verify(o); err == nil {
			t.Errorf("%s: verify passed", name)
		}
	}
	// A tampered blob fails the digest check.
	blobs, _ := filepath.Glob(filepath.Join(opts.Layout, "blobs", "sha256", "*"))
	var biggest string
	var size int64
	for _, b := range blobs {
		if fi, _ := os.Stat(b); fi.Size() > size {
			biggest, size = b, fi.Size()
		}
	}
	data, _ := os.ReadFile(biggest)
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(biggest, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := verify(opts); err == nil {
		t.Error("a tampered layer passed")
	}
}

func TestDockerTarball(t *testing.T) {
	const version = "0.2.0"
	dist := fakeDist(t, version)
	buildFake(t, dist)
	img, err := tarball.ImageFromPath(filepath.Join(dist, "dbctl_0.2.0_linux_arm64.image.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != "arm64" || cf.Config.Entrypoint[0] != "/dbctl" || cf.Config.User != "65532:65532" ||
		cf.Config.Labels["org.opencontainers.image.revision"] != "0123abcd" {
		t.Fatalf("config %+v", cf)
	}
	m, _ := img.Manifest()
	if len(m.Layers) != 1 {
		t.Fatalf("%d layers", len(m.Layers))
	}
	bin, err := checkImage(img, "linux/arm64", version)
	if err != nil || len(bin) == 0 {
		t.Fatalf("%v", err)
	}
}

func TestDockerTag(t *testing.T) {
	for in, want := range map[string]string{"0.1.1-snapshot+abc": "0.1.1-snapshot-abc", "v1.2.3": "1.2.3", "1.0.0": "1.0.0"} {
		if got := dockerTag(in); got != want {
			t.Errorf("dockerTag(%q) = %q, want %q", in, got, want)
		}
	}
}
