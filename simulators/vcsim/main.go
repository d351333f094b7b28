// drkit's vcsim: govmomi's vSphere API simulator with a chosen inventory, built offline from
// Debian's golang-github-vmware-govmomi-dev (see binary.py). Prints "DRKIT_VCSIM_URL=<url>" once
// the SDK listens, serves until SIGTERM/SIGINT. Login: DRKIT_VCSIM_USER / DRKIT_VCSIM_PASSWORD
// (environment, so the password never shows in `ps`). Each host gets its own FC WWPNs and iSCSI
// IQN (derived from -site and the host name) so hosts can be registered as SAN clients.
package main

import (
	"flag"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	m := simulator.VPX()
	addr := flag.String("l", "127.0.0.1:0", "listen address")
	site := flag.String("site", "site", "site name, seeds host initiator ids")
	flag.IntVar(&m.Datacenter, "dc", 1, "datacenters")
	flag.IntVar(&m.Cluster, "cluster", 1, "clusters per datacenter")
	flag.IntVar(&m.ClusterHost, "host", 2, "hosts per cluster")
	flag.IntVar(&m.Host, "standalone-host", 0, "standalone hosts per datacenter")
	flag.IntVar(&m.Datastore, "ds", 1, "local datastores")
	flag.IntVar(&m.Machine, "vm", 0, "VMs per resource pool")
	flag.IntVar(&m.Portgroup, "pg", 1, "distributed port groups per datacenter")
	flag.IntVar(&m.DelayConfig.Delay, "delay", 0, "delay of every SOAP call (ms)")
	flag.Float64Var(&m.DelayConfig.DelayJitter, "jitter", 0, "delay jitter (stddev/mean)")
	methodDelay := flag.String("method-delay", "", "per-method delays: Method:ms,Method:ms")
	flag.Parse()
	m.Autostart = false
	m.DelayConfig.MethodDelay = parseDelays(*methodDelay)
	fail(m.Create())
	defer m.Remove()
	giveInitiators(*site)
	m.Service.Listen = &url.URL{Host: *addr, User: url.UserPassword(
		envOr("DRKIT_VCSIM_USER", "user"), envOr("DRKIT_VCSIM_PASSWORD", "pass"))}
	s := m.Service.NewServer()
	defer s.Close()
	u := *s.URL
	u.User = nil
	fmt.Printf("DRKIT_VCSIM_URL=%s\n", u.String())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

// giveInitiators replaces the HBAs every simulated host shares with per-host FC and iSCSI
// adapters. The storage system's spare HBA list is the same list, so RescanAllHba (which swaps
// the two in vcsim) keeps them.
func giveInitiators(site string) {
	for _, ref := range simulator.Map.All("HostSystem") {
		host := simulator.Map.Get(ref.Reference()).(*simulator.HostSystem)
		info := &types.HostStorageDeviceInfo{}
		*info = *host.Config.StorageDevice
		info.HostBusAdapter = hbas(site + "/" + host.Name)
		host.Config.StorageDevice = info
		ss := simulator.Map.Get(*host.ConfigManager.StorageSystem).(*simulator.HostStorageSystem)
		ss.StorageDeviceInfo = info
		ss.HBA = info.HostBusAdapter
	}
}

func hbas(id string) []types.BaseHostHostBusAdapter {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	base := int64(0x2100000000000000 | (h.Sum64() & 0xffffffffff00))
	fc := func(n int64) *types.HostFibreChannelHba {
		dev := "vmhba" + strconv.FormatInt(n+2, 10)
		return &types.HostFibreChannelHba{
			HostHostBusAdapter: types.HostHostBusAdapter{Key: "key-vim.host.FibreChannelHba-" + dev,
				Device: dev, Status: "online", Model: "Simulated FC HBA", Driver: "drkit"},
			PortWorldWideName: base + n, NodeWorldWideName: base + 0x80 + n, PortType: "fabric"}
	}
	name := strings.ToLower(strings.NewReplacer("/", ".", "_", "-", " ", "-").Replace(id))
	iscsi := &types.HostInternetScsiHba{
		HostHostBusAdapter: types.HostHostBusAdapter{Key: "key-vim.host.InternetScsiHba-vmhba64",
			Device: "vmhba64", Status: "online", Model: "iSCSI Software Adapter", Driver: "iscsi_vmk"},
		IsSoftwareBased: true, IScsiName: "iqn.1998-01.com.vmware:" + name}
	return []types.BaseHostHostBusAdapter{fc(0), fc(1), iscsi}
}

func parseDelays(spec string) map[string]int {
	delays := map[string]int{}
	for _, item := range strings.Split(spec, ",") {
		if name, ms, ok := strings.Cut(item, ":"); ok {
			n, err := strconv.Atoi(ms)
			fail(err)
			delays[name] = n
		}
	}
	return delays
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "vcsim:", err)
		os.Exit(1)
	}
}
