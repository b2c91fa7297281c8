# Shared by scripts/test, scripts/demo and scripts/bench: Debian packages,
# the build, and small helpers. Source it; do not run it.

PSW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Everything podswitch needs to build, test and demo, as Debian packages.
PSW_PACKAGES=(
	gcc make pkg-config meson ninja-build
	dpdk dpdk-dev libdpdk-dev libnuma-dev libconfig-dev libcunit1-dev libpcap-dev
	libjansson-dev libyaml-dev libmnl-dev
	valgrind                               # callgrind.h in the benchmark; instruction counts
	python3 python3-scapy
	iproute2 iputils-ping socat iperf3 procps util-linux ethtool
	golang-go golang-github-appc-cni-dev   # libcni: the real CNI client of the system tests
	containernetworking-plugins            # host-local, for delegated IPAM
)

psw_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "$(basename "$0"): run as root (network namespaces, DPDK)" >&2
		exit 1
	fi
}

# Install whichever of the packages (default: PSW_PACKAGES) are missing.
psw_install_deps() {
	local pkgs=("$@") missing=() p
	[ ${#pkgs[@]} -gt 0 ] || pkgs=("${PSW_PACKAGES[@]}")
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "## installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# psw_build DIR [meson options...]: configure once, then build.
psw_build() {
	local dir=$1 log
	shift
	log=$(mktemp)
	if { [ -f "$PSW_ROOT/$dir/build.ninja" ] ||
	     meson setup "$PSW_ROOT/$dir" "$PSW_ROOT" "$@" >"$log" 2>&1; } &&
	   ninja -C "$PSW_ROOT/$dir" >"$log" 2>&1; then
		rm -f "$log"
		return 0
	fi
	# quiet when it works; what failed, when it does not
	echo "building $dir failed:" >&2
	tail -40 "$log" >&2
	rm -f "$log"
	return 1
}

# DPDK leaves a runtime directory per file prefix; remove those our tests made.
psw_clean_runtime_dirs() {
	rm -rf /var/run/dpdk/psw_ut* /var/run/dpdk/psw_rcu* 2>/dev/null || true
}
