#!/usr/bin/env bash
# Times `kuma-agent doctor` on this machine with hyperfine (apt-get install hyperfine nftables).
# 1. This host checked as the load balancer and as a worker of the k0s production fixture
#    (its peers on 127.0.20.x refuse at once: loopback, nothing listens there).
# 2. As root: the same inside a private network namespace whose nftables drop every packet
#    to 127.0.20.0/24, so each of the 29 peer-port probes gets no answer: the run must
#    cost one probe timeout (500 ms), not one per port.
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s build
inv=internal/inventory/testdata/inventories/k0s-prod-3cp-3w.inventory.yml
cfg=$(mktemp)
ns=""
cleanup() { rm -f "$cfg"; if [ -n "$ns" ]; then ip netns del "$ns" 2>/dev/null || true; fi; }
trap cleanup EXIT
# NTP: a closed local port answers at once with "unreachable" (unknown), no waiting on the internet.
echo 'checks: {ntp: {servers: ["127.0.0.1:1"], timeout: 200ms}}' > "$cfg"
hyperfine -N --warmup 3 --runs 30 -i \
  "bin/kuma-agent doctor --config $cfg --inventory $inv --node kuma-lb.example.com --format json" \
  "bin/kuma-agent doctor --config $cfg --inventory $inv --node kuma-w1.example.com --format json"
if [ "$(id -u)" = 0 ] && command -v nft >/dev/null; then
  ns=kuma-bench-$$
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" nft -f - <<'NFT'
table inet kbench {
  chain out {
    type filter hook output priority 0;
    ip daddr 127.0.20.0/24 drop
  }
}
NFT
  hyperfine -N --warmup 1 --runs 10 -i \
    "ip netns exec $ns bin/kuma-agent doctor --config $cfg --inventory $inv --node kuma-lb.example.com --format json"
fi
