#!/usr/bin/env bash
# librdkafka's own integration test suite (tests/ of the librdkafka that rdkafka-sys vendors)
# against the embedded broker serving as a 3-node cluster. Not run by CI; see
# crates/broker/LIBRDKAFKA_SUITE.md for the last recorded results.
#
# Steps: copy librdkafka out of the cargo registry (build the project first so cargo has
# unpacked rdkafka-sys), configure and build it and its test-runner (once; needs only a C/C++
# toolchain, make and perl), start `kafka-eos broker --port 0 --nodes 3` (with flags matching
# the trivup cluster the tests expect, see scenario_args), write tests/test.conf
# with its bootstrap.servers, run each listed test number in quick mode without socket
# emulation (one test-runner process per number, with a timeout), print a table and a summary,
# stop the broker. Exits non-zero if any listed test failed (or timed out).
#
# Quick mode (test-runner -Q) skips every sub-test not marked quick (SUB_TEST vs
# SUB_TEST_QUICK): some tests then run nothing and pass in 0.000s; the table marks them
# "(nothing ran)". --full runs without -Q (all sub-tests, more messages; much longer).
#
# Usage: scripts/librdkafka-suite.sh [--build-only] [--full] [TESTNUM...]
#   --build-only   only copy and build librdkafka and its test-runner
#   --full         run the tests in full mode (no -Q)
#   TESTNUM...     run only these numbers (e.g. 0011 0103) instead of scripts/librdkafka-suite.tests
# Environment:
#   KAFKA_EOS_BIN                 the kafka-eos CLI (default: target/debug/kafka-eos)
#   LIBRDKAFKA_SUITE_DIR          work directory (default: target/librdkafka-suite)
#   LIBRDKAFKA_SUITE_TIMEOUT      seconds allowed per test number (default: 600, --full 1800)
#   LIBRDKAFKA_SUITE_TMOUT_MULTIPLIER  test.timeout.multiplier in test.conf (default: 2)
#   LIBRDKAFKA_SUITE_NODES        --nodes of the broker (default: 3)
#   LIBRDKAFKA_SUITE_BROKER_ARGS  extra arguments for `kafka-eos broker`
#   RUST_LOG                      the broker's log filter (its log: WORK_DIR/logs-MODE/broker.log)
#   TEST_KAFKA_VERSION            the broker version the tests assume (default: 3.9.0)
#   TEST_DEBUG, TEST_LEVEL, SUBTESTS  passed to test-runner (librdkafka debug contexts,
#                                 verbosity, only the sub-tests whose name contains SUBTESTS)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPT_DIR="$ROOT/scripts"
LIST_FILE="$SCRIPT_DIR/librdkafka-suite.tests"
WORK_DIR=${LIBRDKAFKA_SUITE_DIR:-$ROOT/target/librdkafka-suite}
mkdir -p "$WORK_DIR" && WORK_DIR=$(cd "$WORK_DIR" && pwd)
KAFKA_EOS_BIN=${KAFKA_EOS_BIN:-$ROOT/target/debug/kafka-eos}
TMOUT_MULTIPLIER=${LIBRDKAFKA_SUITE_TMOUT_MULTIPLIER:-2}
NODES=${LIBRDKAFKA_SUITE_NODES:-3}
JOBS=${JOBS:-2}

build_only=0
full=0
selected=()
for arg in "$@"; do
  case "$arg" in
    --build-only) build_only=1 ;;
    --full) full=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    [0-9][0-9][0-9][0-9]) selected+=("$arg") ;;
    *)
      echo "unknown argument: $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

if [ "$full" = 1 ]; then
  MODE_ARGS=()
  PER_TEST_TIMEOUT=${LIBRDKAFKA_SUITE_TIMEOUT:-1800}
else
  MODE_ARGS=(-Q)
  PER_TEST_TIMEOUT=${LIBRDKAFKA_SUITE_TIMEOUT:-600}
fi

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# 1. librdkafka's source, from the cargo registry.
# ---------------------------------------------------------------------------------------------
SRC_DIR="$WORK_DIR/librdkafka"
TEST_DIR="$SRC_DIR/tests"

find_registry_source() {
  local cargo_home=${CARGO_HOME:-$HOME/.cargo} want="" dir
  # The version rdkafka-sys has in Cargo.lock, if any; otherwise the newest unpacked one.
  if [ -f "$ROOT/Cargo.lock" ]; then
    want=$(awk '/^name = "rdkafka-sys"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
      "$ROOT/Cargo.lock")
  fi
  if [ -n "$want" ]; then
    for dir in "$cargo_home"/registry/src/*/rdkafka-sys-"$want"/librdkafka; do
      [ -f "$dir/configure" ] && { echo "$dir"; return 0; }
    done
  fi
  for dir in $(ls -d "$cargo_home"/registry/src/*/rdkafka-sys-*/librdkafka 2>/dev/null | sort -V -r); do
    [ -f "$dir/configure" ] && { echo "$dir"; return 0; }
  done
  return 1
}

if [ ! -x "$TEST_DIR/test-runner" ]; then
  registry_src=$(find_registry_source) || die "librdkafka's source was not found in the cargo \
registry (${CARGO_HOME:-$HOME/.cargo}/registry/src/*/rdkafka-sys-*/librdkafka). Build the \
project first (e.g. \`cargo build\`), which unpacks rdkafka-sys, then run this script again."
  if [ ! -f "$SRC_DIR/configure" ]; then
    log "copying $registry_src to $SRC_DIR"
    mkdir -p "$WORK_DIR"
    rm -rf "$SRC_DIR.tmp"
    cp -R "$registry_src" "$SRC_DIR.tmp"
    chmod -R u+w "$SRC_DIR.tmp"
    mv "$SRC_DIR.tmp" "$SRC_DIR"
  fi

  # ---------------------------------------------------------------------------------------------
  # 2. Build librdkafka and test-runner (skipped when test-runner exists).
  # ---------------------------------------------------------------------------------------------
  for tool in cc c++ make perl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is needed to build librdkafka's tests"
  done
  (
    cd "$SRC_DIR"
    if [ ! -f Makefile.config ]; then
      log "configuring librdkafka (plaintext only: no SSL, SASL/GSSAPI, zstd, curl, external lz4)"
      # zlib is used when its headers are there (gzip tests), else left out.
      ./configure --no-download --disable-ssl --disable-gssapi --disable-zstd --disable-curl \
        --disable-lz4-ext >"$WORK_DIR/configure.log" 2>&1 ||
        die "configure failed, see $WORK_DIR/configure.log"
    fi
    log "building librdkafka (make -j$JOBS libs)"
    make -j"$JOBS" libs >"$WORK_DIR/build.log" 2>&1 || die "build failed, see $WORK_DIR/build.log"
    log "building tests/test-runner"
    make -j"$JOBS" -C tests build >>"$WORK_DIR/build.log" 2>&1 ||
      die "test build failed, see $WORK_DIR/build.log"
  )
fi
[ -x "$TEST_DIR/test-runner" ] || die "$TEST_DIR/test-runner was not built"
log "test-runner: $TEST_DIR/test-runner"
[ "$build_only" = 1 ] && exit 0

# ---------------------------------------------------------------------------------------------
# 3. The tests to run: the arguments, else the uncommented lines of librdkafka-suite.tests
#    ("NNNN [scenario]").
# ---------------------------------------------------------------------------------------------
[ -f "$LIST_FILE" ] || die "$LIST_FILE is missing"
listed=$(sed -e 's/#.*//' "$LIST_FILE" | awk 'NF { print $1 "\t" ($2 == "" ? "default" : $2) }')
runs=() # "NNNN<TAB>scenario"
if [ ${#selected[@]} -eq 0 ]; then
  mapfile -t runs <<<"$listed"
else
  for num in "${selected[@]}"; do
    scenario=$(printf '%s\n' "$listed" | awk -v n="$num" '$1 == n { print $2; exit }')
    runs+=("$num"$'\t'"${scenario:-default}")
  done
fi
[ ${#runs[@]} -gt 0 ] && [ -n "${runs[0]}" ] || die "no tests selected"

# ---------------------------------------------------------------------------------------------
# 4. The broker: a fresh one for each scenario.
# ---------------------------------------------------------------------------------------------
[ -x "$KAFKA_EOS_BIN" ] || die "kafka-eos binary not found at $KAFKA_EOS_BIN (build it with \
\`cargo build -p kafka-eos-cli\`, or set KAFKA_EOS_BIN)"
MODE=$([ "$full" = 1 ] && echo full || echo quick)
LOG_DIR="$WORK_DIR/logs-$MODE"
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log
BROKER_LOG="$LOG_DIR/broker.log"
broker_pid=""
bootstrap=""

scenario_args() {
  local common="--default-partitions 4 --initial-rebalance-delay-ms 3000 --super-user ANONYMOUS"
  case "$1" in
    # As trivup's clusters: scenarios/*.json's num_partitions 4, replication_factor 3 (the
    # default of --default-replication-factor at 3 nodes) and auto_create_topics; Kafka's
    # default group.initial.rebalance.delay.ms of 3000 (trivup keeps it; 0102, 0113 and 0118
    # expect two consumers started together to join the first generation together); an
    # authorizer that lets the (anonymous) test clients do everything, as trivup's
    # authorizer.class.name with allow.everyone.if.no.acl.found=true (0081 creates, lists and
    # deletes ACLs: without an authorizer those answer SECURITY_DISABLED, as Kafka's do).
    default) echo "$common" ;;
    noautocreate) echo "$common --no-auto-create" ;;
    *) die "unknown test scenario: $1" ;;
  esac
}

start_broker() {
  local scenario=$1 out="$WORK_DIR/broker.stdout" args
  args="--port 0 --nodes $NODES $(scenario_args "$scenario") ${LIBRDKAFKA_SUITE_BROKER_ARGS:-}"
  args=$(echo $args)
  : >"$out"
  echo "### $(date '+%F %T') kafka-eos broker $args" >>"$BROKER_LOG"
  # shellcheck disable=SC2086
  NO_COLOR=1 "$KAFKA_EOS_BIN" broker $args >"$out" 2>>"$BROKER_LOG" </dev/null &
  broker_pid=$!
  bootstrap=""
  for _ in $(seq 1 300); do
    bootstrap=$(sed -n 's/^bootstrap\.servers=//p' "$out" | head -n1)
    [ -n "$bootstrap" ] && break
    kill -0 "$broker_pid" 2>/dev/null || die "the broker exited at start, see $BROKER_LOG"
    sleep 0.1
  done
  [ -n "$bootstrap" ] || die "the broker printed no bootstrap.servers line, see $BROKER_LOG"
  log "broker (pid $broker_pid): kafka-eos broker $args: bootstrap.servers=$bootstrap"
  {
    echo "# Written by scripts/librdkafka-suite.sh: kafka-eos broker $args"
    echo "bootstrap.servers=$bootstrap"
    echo "test.timeout.multiplier=$TMOUT_MULTIPLIER"
  } >"$TEST_DIR/test.conf"
}

stop_broker() {
  [ -n "$broker_pid" ] || return 0
  if kill -0 "$broker_pid" 2>/dev/null; then
    kill -INT "$broker_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$broker_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$broker_pid" 2>/dev/null || true
  fi
  wait "$broker_pid" 2>/dev/null || true
  broker_pid=""
}
trap stop_broker EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# 5. Run each test number in its own test-runner process:
#    -Q quick mode (not with --full), -E no sockem (socket emulation) tests, -L no local tests (mock cluster or
#    no broker at all: they don't exercise kafka-eos), -p1 one test at a time.
# ---------------------------------------------------------------------------------------------
# The broker version the tests assume: >= 0.10.2 makes them create and delete topics with the
# Admin API rather than kafka-topics.sh, and enables the version-gated tests.
export TEST_KAFKA_VERSION=${TEST_KAFKA_VERSION:-3.9.0}
export LD_LIBRARY_PATH="$SRC_DIR/src:$SRC_DIR/src-cpp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RDKAFKA_GITVER="v2.12.1"
# CI would raise the runner's timeouts; KAFKA_PATH/ZK_ADDRESS/BROKERS would point tests at
# Java tools that aren't there.
unset CI KAFKA_PATH ZK_ADDRESS BROKERS TEST_SCENARIO

# Per-test results from a test-runner log: "name<TAB>state<TAB>seconds<TAB>detail". Read from
# the progress lines, since test-runner abort()s without its summary table when a failed test
# leaves librdkafka threads behind; durations from the summary table when it is there. Tests
# filtered out by -L/-E or by the scenario have no "Running test" line and are left out.
PARSE_AWK=$(
  cat <<'AWK'
{ gsub(/\033\[[0-9;]*m/, ""); gsub(/\033\(B/, "") }
match($0, /=+ Running test [0-9][0-9][0-9][0-9]_[A-Za-z0-9_]+ =+/) {
  s = substr($0, RSTART, RLENGTH); sub(/=+ Running test /, "", s); sub(/ =+$/, "", s)
  if (!(s in state)) order[++n] = s
  state[s] = "RUNNING"; next
}
match($0, /=+ Test [0-9][0-9][0-9][0-9]_[A-Za-z0-9_]+ (PASSED|SKIPPED|FAILED) =+/) {
  s = substr($0, RSTART, RLENGTH); sub(/=+ Test /, "", s); sub(/ =+$/, "", s)
  split(s, a, " ")
  if (!(a[1] in state)) order[++n] = a[1]
  if (state[a[1]] != "FAILED") state[a[1]] = a[2]
  next
}
/^\[[0-9][0-9][0-9][0-9]_[A-Za-z0-9_]+ .*SKIPPING TEST: / {
  s = $0; sub(/^\[/, "", s); sub(/ .*/, "", s)
  r = $0; sub(/.*SKIPPING TEST: /, "", r); sub(/\[[0-9][0-9][0-9][0-9]_.*/, "", r)
  detail[s] = r; next
}
/^### Test "[0-9][0-9][0-9][0-9]_/ {
  s = $0; sub(/^### Test "/, "", s)
  name = s; sub(/[ "].*/, "", name)
  subt = ""
  if (match(s, /^[^ ]+ \(/)) { subt = s; sub(/^[^ ]+ \(/, "", subt); sub(/\)" failed at .*/, "", subt) }
  loc = s; sub(/.*failed at /, "", loc); sub(/ at [A-Z][a-z][a-z] .*/, "", loc)
  getline r
  if (!(name in state)) order[++n] = name
  state[name] = "FAILED"
  if (detail[name] == "") detail[name] = (subt != "" ? subt ": " : "") r " (" loc ")"
  next
}
/^\| [0-9][0-9][0-9][0-9]_/ {
  split($0, f, "|"); s = f[2]; gsub(/ /, "", s); d = f[4]; gsub(/[ s]/, "", d); dur[s] = d
}
END {
  for (i = 1; i <= n; i++) {
    s = order[i]; st = state[s]; d = detail[s]
    if (st == "RUNNING") { st = "FAILED"; d = "no verdict: test-runner ended with exit code " rc }
    if (st == "PASSED" && quick && dur[s] == "0.000") d = "(nothing ran: every sub-test is non-quick, skipped by -Q)"
    printf "%s\t%s\t%s\t%s\n", s, st, (s in dur ? dur[s] : "-"), d
  }
}
AWK
)

RESULTS="$WORK_DIR/results-$MODE.tsv" # number, test, result, seconds, detail
: >"$RESULTS"
any_failed=0
current_scenario=""

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

for run in "${runs[@]}"; do
  num=${run%%$'\t'*}
  scenario=${run#*$'\t'}
  if [ "$scenario" != "$current_scenario" ]; then
    stop_broker
    start_broker "$scenario"
    current_scenario=$scenario
  elif ! kill -0 "$broker_pid" 2>/dev/null; then
    record "$num" "-" "BROKER-DIED" "0" "the broker had exited before this test; restarted it"
    any_failed=1
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=""
    start_broker "$scenario"
  fi
  out="$LOG_DIR/$num.log"
  echo "### $(date '+%F %T') test $num (scenario $scenario)" >>"$BROKER_LOG"
  start=$(date +%s)
  rc=0
  (cd "$TEST_DIR" && TESTS=$num timeout -s INT -k 30 "$PER_TEST_TIMEOUT" \
    ./test-runner "${MODE_ARGS[@]}" -E -L -p1 -s "$scenario" >"$out" 2>&1) || rc=$?
  secs=$(($(date +%s) - start))
  summary=$(awk -v rc="$rc" -v quick=$((1 - full)) "$PARSE_AWK" "$out")
  timed_out=0
  # timeout's own exit code, or its KILL after the grace period (test-runner also exits
  # with SIGKILL-like codes on its own test timeouts, which are reported as failures).
  if [ "$rc" = 124 ] || { [ "$rc" = 137 ] && [ "$secs" -ge "$PER_TEST_TIMEOUT" ]; }; then
    timed_out=1
  fi
  if [ -z "$summary" ]; then
    if [ "$timed_out" = 1 ]; then
      record "$num" "$num" "TIMEOUT" "$secs" "killed after ${PER_TEST_TIMEOUT}s"
    else
      record "$num" "$num" "CRASHED" "$secs" "test-runner exit code $rc, no test ran"
    fi
    any_failed=1
  else
    while IFS=$'\t' read -r name state tsecs detail; do
      if [ "$timed_out" = 1 ] && [ "$state" = FAILED ] && [[ $detail == "no verdict"* ]]; then
        state=TIMEOUT detail="killed after ${PER_TEST_TIMEOUT}s"
      fi
      record "$num" "$name" "$state" "$tsecs" "$detail"
    done <<<"$summary"
    if cut -f2 <<<"$summary" | grep -qv -E '^(PASSED|SKIPPED)$'; then
      any_failed=1
    elif [ "$rc" != 0 ]; then
      # Every test passed but test-runner failed anyway (e.g. librdkafka threads left behind).
      main_fail=$(sed -e 's/\x1b\[[0-9;]*m//g' "$out" | grep -A1 '^### Test "<MAIN>"' | tail -n1)
      record "$num" "${num}_<MAIN>" "FAILED" "-" "test-runner exit code $rc: ${main_fail:-?}"
      any_failed=1
    fi
  fi
  log "test $num: $(awk -F'\t' '{ printf "%s%s %s", sep, $1, $2; sep = ", " }' <<<"$summary") (exit code $rc, ${secs}s)"
done

stop_broker

# ---------------------------------------------------------------------------------------------
# 6. Table and summary.
# ---------------------------------------------------------------------------------------------
printf '\n%-48s %-8s %8s  %s\n' "TEST" "RESULT" "SECONDS" "DETAIL"
printf '%-48s %-8s %8s  %s\n' "----" "------" "-------" "------"
while IFS=$'\t' read -r _ name state tsecs detail; do
  printf '%-48s %-8s %8s  %s\n' "$name" "$state" "$tsecs" "$(cut -c1-150 <<<"$detail")"
done <"$RESULTS"
passed=$(cut -f3 "$RESULTS" | grep -c '^PASSED$' || true)
skipped=$(cut -f3 "$RESULTS" | grep -c '^SKIPPED$' || true)
failed=$(cut -f3 "$RESULTS" | grep -vc -E '^(PASSED|SKIPPED)$' || true)
empty=$(cut -f5 "$RESULTS" | grep -c '^(nothing ran' || true)
printf '\n%s mode: %d passed (%d of them ran nothing), %d failed, %d skipped; %d test numbers\n' \
  "$MODE" "$passed" "$empty" "$failed" "$skipped" "${#runs[@]}"
printf 'test-runner and broker logs in %s, results in %s\n' "$LOG_DIR" "$RESULTS"
[ "$any_failed" = 0 ]
