// Command dbctl reconciles Database resources once, GitOps-style. See README.md.
package main

import (
	"os"

	"github.com/dbctl-io/dbctl/cmd/root"
)

func main() {
	stop := startProfiling()
	code := root.Main()
	stop()
	os.Exit(int(code))
}
