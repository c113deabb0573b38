// Command coredns is CoreDNS v1.15.0 built from its published module, for the real node of the cluster tier:
// it answers the pods' DNS for Service names (the kubernetes plugin). What the module's own main at its root
// does, in a pinning module.
package main

import (
	_ "github.com/coredns/coredns/core/plugin" // every plugin of the default build
	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }
