// pause: the sandbox ("pause") container of every pod on the test node. It holds the pod's namespaces, reaps
// orphaned children and exits on SIGINT/SIGTERM -- what the registry's pause image does, built here because no
// container registry is reachable. Built by scripts/build-node-tools.sh, packaged by scripts/build-images.sh.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for { // reap every child that has exited
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
