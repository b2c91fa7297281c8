# Shared by scripts/test, scripts/demo and scripts/bench: Debian packages,
# the build, and small helpers. Source it; do not run it.

PSW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Everything podswitch needs to build, test and demo, as Debian packages.
PSW_PACKAGES=(
	gcc make pkg-config meson ninja-build
	dpdk dpdk-dev libdpdk-dev libnuma-dev libconfig-dev libcunit1-dev libpcap-dev
	libjansson-dev libyaml-dev libmnl-dev
	libcurl4-openssl-dev libmicrohttpd-dev        # the agent's API client and probes; the switch's /metrics
	valgrind                               # callgrind.h in the benchmark; instruction counts
	python3 python3-scapy python3-prometheus-client   # the metrics test parses with Prometheus' own parser
	python3-yaml                           # tests read the shipped manifests (config/kubernetes)
	iproute2 iputils-ping socat iperf3 procps util-linux ethtool
	golang-go golang-github-appc-cni-dev   # libcni: the real CNI client of the system tests
	containernetworking-plugins            # host-local, tuning, bandwidth, portmap (chaining)
	podman runc conmon iptables busybox-static  # a real runtime on the shipped conflist (CNI backend)
	containerd python3-grpcio python3-grpc-tools  # containerd's CRI driven as a kubelet drives it (tests/lib/cri.py)
	clang libclang-rt-14-dev               # libFuzzer and its sanitizers (tests/fuzz, scripts/fuzz)
	libxdp-dev libbpf-dev                  # AF_XDP in tests/perf/bench_sockets (skipped without them)
	tshark                                 # reads podswitchctl capture's pcapng in its test
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

# ---------------------------------------------------------------- fuzzing
# libFuzzer targets (tests/fuzz): built by clang in build-fuzz/, the
# libraries instrumented for coverage, ASan + UBSan throughout.
PSW_FUZZ_TARGETS=(stages config api manifest cni)

psw_fuzz_build() {
	local t targets=()
	for t in "${PSW_FUZZ_TARGETS[@]}"; do targets+=("tests/fuzz/fuzz_$t"); done
	local log
	log=$(mktemp)
	# only the fuzz targets are built: nothing else of the tree needs clang
	if ! { [ -f "$PSW_ROOT/build-fuzz/build.ninja" ] ||
	       CC=clang meson setup "$PSW_ROOT/build-fuzz" "$PSW_ROOT" -Dfuzz=true \
			-Db_sanitize=address,undefined -Db_lundef=false \
			-Dc_args=-fsanitize=fuzzer-no-link -Dwerror=false >"$log" 2>&1; } ||
	   ! ninja -C "$PSW_ROOT/build-fuzz" "${targets[@]}" >"$log" 2>&1; then
		echo "building build-fuzz failed:" >&2
		tail -40 "$log" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
}

# EAL runtime directories of fuzz targets that have exited (named
# psw_fz_TARGETPID; libFuzzer's merge runs the target in a child process).
psw_fuzz_clean_runtime() {
	local d pid
	for d in /var/run/dpdk/psw_fz_*; do
		[ -d "$d" ] || continue
		pid=$(echo "$d" | sed -E 's/.*[^0-9]([0-9]+)$/\1/')
		kill -0 "$pid" 2>/dev/null || rm -rf "$d"
	done
}

# psw_fuzz_run TARGET SECONDS [libFuzzer options...]: run one target on its
# corpus and regression inputs (every one is executed first), then mutate
# for SECONDS. New inputs go to $PSW_FUZZ_WORK/TARGET (default
# build-fuzz/corpus, kept from run to run), crashes to
# build-fuzz/artifacts/TARGET/. Prints one summary line; the full log is
# build-fuzz/logs/TARGET.log. Status: libFuzzer's (0 = nothing found).
psw_fuzz_run() {
	local target=$1 seconds=$2 bin dict=() rc log last work
	shift 2
	work="${PSW_FUZZ_WORK:-$PSW_ROOT/build-fuzz/corpus}/$target"
	bin="$PSW_ROOT/build-fuzz/tests/fuzz/fuzz_$target"
	log="$PSW_ROOT/build-fuzz/logs/$target.log"
	mkdir -p "$work" "$PSW_ROOT/build-fuzz/artifacts/$target" \
		"$PSW_ROOT/build-fuzz/logs" "$PSW_ROOT/tests/fuzz/corpus/$target"
	[ -f "$PSW_ROOT/tests/fuzz/$target.dict" ] && dict=(-dict="$PSW_ROOT/tests/fuzz/$target.dict")
	local dirs=("$work" "$PSW_ROOT/tests/fuzz/corpus/$target")
	[ -d "$PSW_ROOT/tests/fuzz/regressions/$target" ] && dirs+=("$PSW_ROOT/tests/fuzz/regressions/$target")
	touch "$PSW_ROOT/build-fuzz/logs/$target.start"
	LSAN_OPTIONS="suppressions=$PSW_ROOT/tests/fuzz/lsan.supp:print_suppressions=0" \
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" \
		"$bin" -max_total_time="$seconds" -rss_limit_mb=2560 -timeout=25 \
		-print_final_stats=1 -artifact_prefix="$PSW_ROOT/build-fuzz/artifacts/$target/" \
		"${dict[@]}" "$@" "${dirs[@]}" >"$log" 2>&1 &
	local pid=$!
	wait $pid
	rc=$?
	psw_fuzz_clean_runtime
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	printf 'fuzz_%s: %s runs in %s s (%s/s), cov %s ft %s, corpus %s%s\n' "$target" \
		"$(sed -nE 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)" \
		"$(sed -nE 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log" | tail -1)" \
		"$(echo "$last" | sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p')" \
		"$(echo "$last" | sed -nE 's/.*cov: ([0-9]+).*/\1/p')" \
		"$(echo "$last" | sed -nE 's/.*ft: ([0-9]+).*/\1/p')" \
		"$(echo "$last" | sed -nE 's/.*corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p')" \
		"$([ $rc -eq 0 ] || echo "; FOUND A BUG (status $rc), see $log")"
	if [ $rc -ne 0 ]; then
		grep -E "^(==[0-9]+==ERROR|SUMMARY|.*runtime error|    #[0-9] )" "$log" | head -20
		find "$PSW_ROOT/build-fuzz/artifacts/$target" -type f -newer "$PSW_ROOT/build-fuzz/logs/$target.start" |
			sed "s|^$PSW_ROOT/|  reproducer: |"
	fi
	return $rc
}
