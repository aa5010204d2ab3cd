package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
)

// runComponent runs kube-controller-manager or kube-scheduler with the given flags, exactly as
// their own binaries do, and exits when standard input closes: nothing of theirs needs a clean
// shutdown in a test run, and a test runner that dies must not leave them running.
func runComponent(cmd *cobra.Command, args []string) {
	cmd.SetArgs(args)
	go func() {
		stopWhenStdinCloses() // asks for a graceful stop with SIGTERM
		time.Sleep(5 * time.Second)
		os.Exit(0)
	}()
	os.Exit(cli.Run(cmd))
}
