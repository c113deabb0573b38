// Command etcd is etcd v3.6 built from its published modules (go.etcd.io/etcd/server/v3), for the cluster
// test tier: the etcd repository's own main module uses replace directives, so `go install` cannot build it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
