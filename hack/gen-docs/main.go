// Command gen-docs writes dbctl's generated documentation from the cobra command
// tree: the Markdown command reference (docs/cli), man pages and shell completions.
//
//	go run ./hack/gen-docs -md docs/cli                       # make docs (checked fresh by make verify)
//	go run ./hack/gen-docs -man dist-extra/man -completions dist-extra/completions   # release archives
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/dbctl-io/dbctl/cmd/cmdutil"
	"github.com/dbctl-io/dbctl/cmd/root"
)

func main() {
	md := flag.String("md", "", "write the Markdown command reference to this directory")
	man := flag.String("man", "", "write man pages to this directory")
	completions := flag.String("completions", "", "write bash, zsh and fish completions to this directory")
	flag.Parse()
	if err := run(*md, *man, *completions); err != nil {
		fmt.Fprintln(os.Stderr, "gen-docs:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	f := cmdutil.New()
	cmd := root.NewCmdRoot(f)
	cmd.DisableAutoGenTag = true // no dates: the files must be reproducible
	cmd.InitDefaultCompletionCmd()
	return cmd
}

func run(md, man, completions string) error {
	if md != "" {
		if err := fresh(md, ".md"); err != nil {
			return err
		}
		if err := doc.GenMarkdownTree(stableDefaults(newRoot()), md); err != nil {
			return fmt.Errorf("writing Markdown: %w", err)
		}
	}
	if man != "" {
		if err := fresh(man, ".1"); err != nil {
			return err
		}
		header := &doc.GenManHeader{Title: "DBCTL", Section: "1", Source: "dbctl", Manual: "dbctl manual"}
		if err := doc.GenManTree(stableDefaults(newRoot()), header, man); err != nil {
			return fmt.Errorf("writing man pages: %w", err)
		}
	}
	if completions != "" {
		if err := os.MkdirAll(completions, 0o755); err != nil {
			return err
		}
		r := newRoot()
		for name, gen := range map[string]func(*bytes.Buffer) error{
			"dbctl.bash": func(b *bytes.Buffer) error { return r.GenBashCompletionV2(b, true) },
			"_dbctl":     func(b *bytes.Buffer) error { return r.GenZshCompletion(b) },
			"dbctl.fish": func(b *bytes.Buffer) error { return r.GenFishCompletion(b, true) },
		} {
			var b bytes.Buffer
			if err := gen(&b); err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
			if err := os.WriteFile(filepath.Join(completions, name), b.Bytes(), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// fresh empties dir of the files a previous run generated (ext), so that a removed
// command's page does not linger.
func fresh(dir, ext string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ext) && strings.HasPrefix(e.Name(), "dbctl") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// stableDefaults replaces flag defaults that depend on the machine (the kubeconfig
// cache directory under $HOME) with their description, so the docs are the same
// everywhere.
func stableDefaults(cmd *cobra.Command) *cobra.Command {
	if fl := cmd.PersistentFlags().Lookup("cache-dir"); fl != nil {
		fl.DefValue = "$HOME/.kube/cache"
	}
	return cmd
}
