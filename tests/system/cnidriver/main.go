// cnidriver: drives a CNI network list through libcni (Debian's
// golang-github-appc-cni-dev), the library container runtimes use, so the
// podswitch CNI plugin is exercised by an independently written client.
//
//	cnidriver add|check|del|version -conflist F -bin DIR -cache DIR
//	          -netns PATH -id CONTAINER -ifname IF [-args K=V;K=V] [-cap JSON]
//
// add prints the result as JSON; every command exits non-zero with the
// error on stderr when libcni reports one.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func main() {
	conflist := flag.String("conflist", "", "network configuration list file")
	bin := flag.String("bin", "/opt/cni/bin", "plugin directories, colon separated")
	cache := flag.String("cache", "/var/lib/cni", "libcni result cache directory")
	netns := flag.String("netns", "", "network namespace path")
	id := flag.String("id", "", "container id")
	ifname := flag.String("ifname", "eth0", "interface name in the container")
	args := flag.String("args", "", "CNI_ARGS as K=V;K=V")
	capArgs := flag.String("cap", "", "capability arguments (runtimeConfig) as JSON")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: cnidriver add|check|del|version [flags]")
		os.Exit(2)
	}
	cmd := flag.Arg(0)
	cninet := libcni.NewCNIConfigWithCacheDir(strings.Split(*bin, ":"), *cache, nil)
	ctx := context.Background()
	if cmd == "version" {
		info, err := cninet.GetVersionInfo(ctx, "podswitch-cni")
		fail(err)
		fmt.Println(strings.Join(info.SupportedVersions(), ","))
		return
	}
	list, err := libcni.ConfListFromFile(*conflist)
	fail(err)
	rt := &libcni.RuntimeConf{ContainerID: *id, NetNS: *netns, IfName: *ifname}
	if *args != "" {
		for _, kv := range strings.Split(*args, ";") {
			p := strings.SplitN(kv, "=", 2)
			if len(p) == 2 {
				rt.Args = append(rt.Args, [2]string{p[0], p[1]})
			}
		}
	}
	if *capArgs != "" {
		fail(json.Unmarshal([]byte(*capArgs), &rt.CapabilityArgs))
	}
	switch cmd {
	case "add":
		res, err := cninet.AddNetworkList(ctx, list, rt)
		fail(err)
		fail(res.Print())
	case "check":
		fail(cninet.CheckNetworkList(ctx, list, rt))
	case "del":
		fail(cninet.DelNetworkList(ctx, list, rt))
	default:
		fmt.Fprintln(os.Stderr, "unknown command", cmd)
		os.Exit(2)
	}
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "cnidriver:", err)
		os.Exit(1)
	}
}
