package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed settings.
const (
	entrypoint = "/dbctl"
	imageUser  = "65532:65532" // nonroot, numeric: no /etc/passwd to look it up in
	sourceURL  = "https://github.com/dbctl-io/dbctl"
	refNameKey = "org.opencontainers.image.ref.name"
)

// metadata is what build needs of goreleaser's dist/metadata.json.
type metadata struct {
	ProjectName string `json:"project_name"`
	Version     string `json:"version"`
	Commit      string `json:"commit"`
}

// binary is one linux binary of goreleaser's dist/artifacts.json.
type binary struct {
	Path   string `json:"path"`
	GOOS   string `json:"goos"`
	GOARCH string `json:"goarch"`
	GOARM  string `json:"goarm"`
	Type   string `json:"type"`
	Extra  struct {
		ID string `json:"ID"`
	} `json:"extra"`
}

func (b binary) platform() string { return b.GOOS + "/" + b.GOARCH }

func readMetadata(dist string) (metadata, error) {
	var m metadata
	data, err := os.ReadFile(filepath.Join(dist, "metadata.json"))
	if err != nil {
		return m, fmt.Errorf("reading goreleaser's metadata: %w", err)
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Version == "" {
		return m, fmt.Errorf("%s/metadata.json names no version (%v)", dist, err)
	}
	return m, nil
}

// readBinaries returns the linux binaries of goreleaser build buildID, by platform.
func readBinaries(dist, buildID string) ([]binary, error) {
	data, err := os.ReadFile(filepath.Join(dist, "artifacts.json"))
	if err != nil {
		return nil, fmt.Errorf("reading goreleaser's artifacts: %w", err)
	}
	var all []binary
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("reading %s/artifacts.json: %w", dist, err)
	}
	var out []binary
	for _, b := range all {
		if b.Type == "Binary" && b.Extra.ID == buildID && b.GOOS == "linux" {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s/artifacts.json has no linux binary of build %q", dist, buildID)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].platform() < out[j].platform() })
	return out, nil
}

type buildOptions struct {
	Meta     metadata
	Binaries []binary
	// Layout is the OCI image layout directory to (re)create.
	Layout string
	// Dist is where the docker tarballs go; Repo names their image.
	Dist, Repo string
	Log        io.Writer
}

// build writes the multi-platform OCI image layout and a docker tarball per
// platform.
func build(o buildOptions) error {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	tag, err := name.NewTag(o.Repo + ":" + dockerTag(o.Meta.Version))
	if err != nil {
		return fmt.Errorf("naming the image: %w", err)
	}
	for _, b := range o.Binaries {
		img, err := platformImage(o.Meta, b)
		if err != nil {
			return err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: b.GOOS, Architecture: b.GOARCH, Variant: armVariant(b)}}})
		file := filepath.Join(o.Dist, fmt.Sprintf("%s_%s_%s_%s.image.tar", o.Meta.ProjectName, o.Meta.Version, b.GOOS, b.GOARCH))
		if err := tarball.WriteToFile(file, tag, img); err != nil {
			return fmt.Errorf("writing %s: %w", file, err)
		}
		fmt.Fprintf(o.Log, "[image] %s: %s (docker load -i %s)\n", b.platform(), tag, file)
	}
	if err := os.RemoveAll(o.Layout); err != nil {
		return err
	}
	p, err := layout.Write(o.Layout, empty.Index)
	if err != nil {
		return fmt.Errorf("creating the OCI layout %s: %w", o.Layout, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{refNameKey: o.Meta.Version})); err != nil {
		return fmt.Errorf("writing the OCI layout %s: %w", o.Layout, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "[image] OCI layout %s: index %s (%d platforms), ref.name %s\n", o.Layout, d, len(o.Binaries), o.Meta.Version)
	return nil
}

// platformImage is the image of one binary: an empty base, one layer, the config.
func platformImage(meta metadata, b binary) (v1.Image, error) {
	info, err := os.Stat(b.Path)
	if err != nil {
		return nil, fmt.Errorf("the %s binary: %w", b.platform(), err)
	}
	created := info.ModTime().UTC() // goreleaser's mod_timestamp: the commit's time
	layer, err := binaryLayer(b.Path, created)
	if err != nil {
		return nil, err
	}
	cfg := &v1.ConfigFile{
		Architecture: b.GOARCH, OS: b.GOOS, Variant: armVariant(b), Created: v1.Time{Time: created},
		RootFS: v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: []string{entrypoint},
			User:       imageUser,
			WorkingDir: "/",
			Env:        []string{"PATH=/"},
			Labels: map[string]string{
				"org.opencontainers.image.title":    meta.ProjectName,
				"org.opencontainers.image.version":  meta.Version,
				"org.opencontainers.image.revision": meta.Commit,
				"org.opencontainers.image.source":   sourceURL,
				"org.opencontainers.image.created":  created.Format(time.RFC3339),
			},
		},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "hack/image: /dbctl (" + b.platform() + ")"}})
	if err != nil {
		return nil, fmt.Errorf("the %s image: %w", b.platform(), err)
	}
	return img, nil
}

// binaryLayer is a layer holding the binary as /dbctl (0755, root's) and an empty
// /tmp (1777), every timestamp set to mtime.
func binaryLayer(path string, mtime time.Time) (v1.Layer, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		hdr  tar.Header
		data []byte
	}{
		{tar.Header{Typeflag: tar.TypeReg, Name: "dbctl", Mode: 0o755, Size: int64(len(bin))}, bin},
		{tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}, nil},
	}
	for _, e := range entries {
		e.hdr.ModTime, e.hdr.Format = mtime, tar.FormatPAX
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

func armVariant(b binary) string {
	if b.GOARCH == "arm" && b.GOARM != "" {
		return "v" + b.GOARM
	}
	return ""
}

var tagUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// dockerTag makes a version a valid tag: "0.1.1-snapshot+abc" → "0.1.1-snapshot-abc".
func dockerTag(version string) string {
	t := tagUnsafe.ReplaceAllString(strings.TrimPrefix(version, "v"), "-")
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
