#!/usr/bin/env bats
# The slurm backend against a real single-node Slurm on loopback
# (t/slurm.bash), reached as a login node through the sshd test host.
# Jobs run the reference engine in the work dir (container = none), or,
# on cluster-t25, engine = transfer2.5 with t/upstream25's stand-ins.

load helper
load sshd
load slurm

setup_file() {
	[ "$(id -u)" = 0 ] || skip "slurmd needs root"
	slurm_prepare
	export SSHD_SETENV="SLURM_CONF=$SLURM_CONF"
	sshd_start
	slurm_start
	{
		slurm_host cluster engine=reference partition=gpu
		slurm_host cluster-slow "engine=$SSHD_DIR/bin/model"
		slurm_host cluster-two engine=reference max_running=2
		slurm_host cluster-short "engine=$SSHD_DIR/bin/model" time_limit=1
		slurm_host cluster-t25 engine=transfer2.5 gres=gpu:tesla:1
	} >>"$COSMOS_CONFIG"
	cp "$BATS_TEST_DIRNAME/standin/squeue" "$BATS_TEST_DIRNAME/standin/sbatch" "$SSHD_DIR/bin/"
	# cluster-t25's work dir is also a cosmos-transfer2.5 checkout: the
	# stand-ins of its examples/inference.py and of torchrun (t/upstream25).
	mkdir -p "$SSHD_DIR/cluster/examples"
	cp "$BATS_TEST_DIRNAME/upstream25/examples/inference.py" "$SSHD_DIR/cluster/examples/"
	cp "$BATS_TEST_DIRNAME/upstream25/torchrun" "$SSHD_DIR/bin/"
	chmod -R a+rX "$SSHD_DIR/cluster/examples" "$SSHD_DIR/bin"
}

teardown_file() {
	slurm_stop
	sshd_stop
}

teardown() {
	standin_model clear
	rm -f "$SSHD_DIR/state/squeue-says" "$SSHD_DIR/state/sbatch-hold" "$SSHD_DIR/state/sbatch-held"
	cp "$BATS_TEST_DIRNAME/standin/sbatch" "$SSHD_DIR/bin/sbatch"
}

cluster() { echo "$SSHD_DIR/cluster"; }

# running_slow_job: a run on cluster-slow, seen running by Slurm and by
# cosmos-sync; its run id in $id, its Slurm job id in $job.
running_slow_job() {
	standin_model sleep 30
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | cosmos-submit --host cluster-slow | jq -r .id)
	job=$(jq -r .job.handle "$COSMOS_DIR/runs/$id.json")
	for i in $(seq 50); do [ "$(squeue -h -j "$job" -o %T)" = RUNNING ] && break; sleep 0.2; done
	run cosmos-sync "$id"
	assert_equal "$(jq -r .status <<<"$output")" running
}
wait_all() { cosmos-sync --wait --interval 1 --timeout 90 "$@"; }

@test "an upscale on the cluster is one Slurm job: its id is the handle, and Slurm ran it" {
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | cosmos-submit --host cluster"
	assert_success
	id=$(jq -r .id <<<"$output")
	job=$(jq -r .job.handle <<<"$output")
	assert_equal "$(jq -r '[.backend, .host, .status, .job.runtime, .job.job_name, .job.partition] | join(" ")' <<<"$output")" \
		"slurm cluster submitted slurm cosmos_upscale_${id:0:8} gpu"
	[[ $job =~ ^[0-9]+$ ]]
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	run ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$COSMOS_DIR/runs/$id/outputs/output.mp4"
	assert_output 3840,2112
	# Slurm's own record of it: the job completion log.
	grep -q "JobId=$job .*Name=cosmos_upscale_${id:0:8} .*JobState=COMPLETED" "$SLURM_DIR/log/jobcomp.log"
}

@test "a job that fails on the cluster is failed with its exit code" {
	id=$(cosmos-spec upscale --video /etc/hostname | cosmos-submit --host cluster 2>/dev/null | jq -r .id) || true
	# A file that is no video: the engine fails.
	run wait_all "$id"
	assert_failure 1
	assert_equal "$(jq -r '[.status, .exit_code] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "failed 1"
}

@test "a job held in the queue stays submitted, with Slurm's reason; released, it completes" {
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | COSMOS_HOST_SBATCH_OPTIONS=--hold cosmos-submit --host cluster | jq -r .id)
	job=$(jq -r .job.handle "$COSMOS_DIR/runs/$id.json")
	assert_equal "$(squeue -h -j "$job" -o '%T %r')" "PENDING JobHeldUser"
	# The scheduler's reason is kept, and shown by cosmos status.
	run cosmos-sync "$id"
	assert_success
	assert_equal "$(jq -r '[.status, .job.queue_reason] | join(" ")' <<<"$output")" "submitted JobHeldUser"
	run cosmos-sync "$id"
	assert_output ""
	run script -qec "cosmos status" /dev/null
	assert_output --regexp "$id +upscale +.*submitted.* +cluster +.* JobHeldUser"
	scontrol release "$job"
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -r '[.status, .job.queue_reason] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "completed "
}

@test "cosmos kill cancels the Slurm job; the run is cancelled and stays so" {
	running_slow_job
	run cosmos kill "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" cancelled
	for i in $(seq 50); do [ "$(squeue -h -t all -j "$job" -o %T)" = CANCELLED ] && break; sleep 0.2; done
	assert_equal "$(squeue -h -t all -j "$job" -o %T)" CANCELLED
	run cosmos-sync "$id"
	assert_output ""
	run cosmos-sync --log "$id"
	assert_line --regexp '^\[COSMOS_CANCELLED\] '
}

@test "a job killed while still queued has no log of its own; its log says it was cancelled" {
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | COSMOS_HOST_SBATCH_OPTIONS=--hold cosmos-submit --host cluster | jq -r .id)
	run cosmos kill "$id"
	assert_success
	run cosmos-sync --log "$id"
	assert_success
	assert_output --regexp '^\[COSMOS_CANCELLED\] [0-9T:-]+Z$'
}

@test "a Slurm job whose submit died before recording it is adopted by its kept job id, and can be cancelled" {
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | COSMOS_HOST_SBATCH_OPTIONS=--hold cosmos-submit --host cluster | jq -r .id)
	job=$(jq -r .job.handle "$COSMOS_DIR/runs/$id.json")
	orphan "$id"
	run cosmos-sync "$id"
	assert_success
	assert_equal "$(jq -r '[.status, .job.handle, .job.adopted] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "submitted $job true"
	run cosmos kill "$id"
	assert_success
	for i in $(seq 50); do [ "$(squeue -h -t all -j "$job" -o %T)" = CANCELLED ] && break; sleep 0.2; done
	assert_equal "$(squeue -h -t all -j "$job" -o %T)" CANCELLED
}

@test "a job Slurm cancelled behind our back, or a state cosmos does not know, is failed, never completed" {
	standin_model sleep 30
	ids=$({ cosmos-spec upscale --video "$CLIPS/full/color.mp4"; cosmos-spec upscale --video "$CLIPS/color-only/color.mp4"; } |
		cosmos-submit --host cluster-slow | jq -r .id)
	read -r a b <<<"$(echo $ids)"
	scancel "$(jq -r .job.handle "$COSMOS_DIR/runs/$a.json")"
	# The second: Slurm answers with a state word cosmos has never seen.
	echo "$(jq -r .job.handle "$COSMOS_DIR/runs/$b.json") WARPED None" >"$SSHD_DIR/state/squeue-says"
	for i in $(seq 50); do [ "$(squeue -h -t all -j "$(jq -r .job.handle "$COSMOS_DIR/runs/$a.json")" -o %T)" = CANCELLED ] && break; sleep 0.2; done
	run cosmos-sync $ids
	assert_success
	assert_equal "$(jq -r '[.status, .reason_code, .reason] | join("|")' "$COSMOS_DIR/runs/$a.json")" \
		"failed|cancelled|Slurm ended the job: CANCELLED"
	assert_equal "$(jq -r '[.status, .reason] | join("|")' "$COSMOS_DIR/runs/$b.json")" \
		"failed|unknown Slurm state 'WARPED'"
	scancel "$(jq -r .job.handle "$COSMOS_DIR/runs/$b.json")"
}

@test "with the controller down, a sync changes nothing and says the host is unavailable" {
	standin_model sleep 30
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | cosmos-submit --host cluster-slow | jq -r .id)
	slurm_stop_ctld
	before=$(store_snapshot)
	run --separate-stderr timeout 120 cosmos-sync "$id"
	slurm_start_ctld
	slurm_node_up
	assert_failure 4
	assert_output ""
	[[ $stderr == "cosmos-sync: cluster-slow: status: cosmos-ctl: squeue failed: "* ]]
	assert_equal "$(store_snapshot)" "$before"
	cosmos kill "$id" >/dev/null
	slurm_gpus_free # for the tests after this one
}

@test "a packed batch on the cluster is one Slurm job; each child gets its video" {
	ps=$(for i in 1 2 3; do make_prompt "prompt $i" "$CLIPS/full"; done | tr '\n' ' ')
	run --separate-stderr bash -c "cosmos-spec transfer --weights vis=0.5 $ps | cosmos-batch --packed --host cluster"
	assert_success
	b=$(jq -r .batch_id <<<"${lines[0]}")
	[[ $(jq -r .job.handle "$COSMOS_DIR/runs/$b.json") =~ ^[0-9]+$ ]]
	run wait_all "$b"
	assert_success
	assert_equal "$(cosmos-manifest --batch "$b" | jq -r .status | tr '\n' ' ')" "completed completed completed "
	assert_equal "$(grep -c "Name=cosmos_batch_${b:0:8} " "$SLURM_DIR/log/jobcomp.log")" 1
}

@test "a fan-out batch of five on the cluster is one sbatch: a job array of five tasks, two at a time" {
	before=$(grep -c . "$SSHD_DIR/state/sbatch.log" 2>/dev/null || true)
	run --separate-stderr bash -c "for i in 1 2 3 4 5; do cosmos-spec upscale --video '$CLIPS/full/color.mp4' --prompt \"take \$i\"; done |
		cosmos-batch --host cluster-two --delay 1500"
	assert_success
	assert_equal "$(jq -r .event <<<"$output" | tr '\n' ' ')" \
		"batch.started batch.progress batch.progress batch.progress batch.progress batch.progress batch.completed "
	assert_equal "$(( $(grep -c . "$SSHD_DIR/state/sbatch.log") - ${before:-0} ))" 1
	tail -n 1 "$SSHD_DIR/state/sbatch.log" | grep -q -- "--array=0-4%2"
	b=$(jq -r .batch_id <<<"${lines[0]}")
	run cosmos-manifest --batch "$b"
	job=$(jq -r .job.array_job_id <<<"${lines[0]}")
	[[ $job =~ ^[0-9]+$ ]]
	# The host names no partition: the one Slurm chose is recorded.
	assert_equal "$(jq -r .job.partition <<<"$output" | sort -u)" gpu
	assert_equal "$(jq -r .job.handle <<<"$output" | tr '\n' ' ')" "${job}_0 ${job}_1 ${job}_2 ${job}_3 ${job}_4 "
	run wait_all "$b"
	assert_success
	assert_equal "$(cosmos-manifest --batch "$b" | jq -r .status | sort | uniq -c | tr -s ' ')" " 5 completed"
	# Each task ran its own child: its prompt reached its own spec.
	for c in $(jq -r '.execution_config.child_run_ids[]' "$COSMOS_DIR/runs/$b.json"); do
		assert_file_exists "$COSMOS_DIR/runs/$c/outputs/output.mp4"
	done
	assert_equal "$(for c in $(jq -r '.execution_config.child_run_ids[]' "$COSMOS_DIR/runs/$b.json"); do jq -r .prompt "$(cluster)/outputs/run_$c/spec_used.json"; done | tr '\n' ,)" \
		"take 1,take 2,take 3,take 4,take 5,"
}

# A run's GPUs are its job's --gres=gpu[:type]:N: each entry of sbatch's
# --gres is "name[[:type]:count]" (sbatch(1); Slurm's gres.html, "Running
# Jobs": --gres=gpu:kepler:2).  squeue's %b is the GRES slurmctld holds
# for the job ("gres:gpu:2"; "gres/gpu:2" in later Slurm).
@test "a request's execution_config.num_gpus is its Slurm job's GPU count: Slurm holds gpu:2, and the job completes" {
	run bash -c "cosmos-spec upscale --video '$CLIPS/full/color.mp4' | jq -c '.execution_config.num_gpus = 2' | cosmos-submit --host cluster"
	assert_success
	id=$(jq -r .id <<<"$output")
	job=$(jq -r .job.handle <<<"$output")
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	assert_equal "$(squeue -h -t all -j "$job" -o '%T %b' | sed 's,gres[:/],,')" "COMPLETED gpu:2"
}

@test "a fan-out batch where one child asks 2 GPUs is one sbatch with --gres=gpu:2, for every task" {
	req=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4")
	{ echo "$req"; jq -c '.execution_config.num_gpus = 2' <<<"$req"; echo "$req"; } >"$BATS_TEST_TMPDIR/reqs"
	before=$(grep -c . "$SSHD_DIR/state/sbatch.log" 2>/dev/null || true)
	run --separate-stderr bash -c "COSMOS_HOST_SBATCH_OPTIONS=--hold cosmos-batch --host cluster --delay 0 <'$BATS_TEST_TMPDIR/reqs'"
	assert_success
	assert_equal "$(( $(grep -c . "$SSHD_DIR/state/sbatch.log") - ${before:-0} ))" 1
	tail -n 1 "$SSHD_DIR/state/sbatch.log" | grep -q -- " --gres=gpu:2 "
	b=$(jq -r .batch_id <<<"${lines[0]}")
	job=$(jq -r .job.array_job_id "$COSMOS_DIR/runs/$(jq -r '.execution_config.child_run_ids[0]' "$COSMOS_DIR/runs/$b.json").json")
	assert_equal "$(squeue -h -r -j "$job" -o %b | sed 's,gres[:/],,' | uniq -c | tr -s ' ')" " 3 gpu:2"
	scancel "$job"
}

# held_gres REQUEST [VAR=VALUE ...]: the GRES Slurm holds for REQUEST's
# job on cluster (started held, with the host overrides given; cancelled).
held_gres() {
	local job
	job=$(env COSMOS_HOST_SBATCH_OPTIONS=--hold "${@:2}" cosmos-submit --host cluster <<<"$1" | jq -r .job.handle)
	squeue -h -j "$job" -o %b | sed 's,gres[:/],,'
	scancel "$job"
}

@test "num_gpus keeps the type of the host's gres; without it the host's gres is asked as it is" {
	req=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4")
	two=$(jq -c '.execution_config.num_gpus = 2' <<<"$req")
	assert_equal "$(held_gres "$two" COSMOS_HOST_GRES=gpu:tesla:1)" gpu:tesla:2
	assert_equal "$(held_gres "$two" COSMOS_HOST_GRES=gpu)" gpu:2
	assert_equal "$(held_gres "$req" COSMOS_HOST_GRES=gpu:tesla:1)" gpu:tesla:1
	assert_equal "$(held_gres "$req")" gpu:1
}

@test "cancelling one task of an array, then the whole batch" {
	standin_model sleep 30
	run --separate-stderr bash -c "for i in 1 2 3; do cosmos-spec upscale --video '$CLIPS/full/color.mp4'; done | cosmos-batch --host cluster-slow --delay 0"
	assert_success
	b=$(jq -r .batch_id <<<"${lines[0]}")
	c0=$(jq -r '.execution_config.child_run_ids[0]' "$COSMOS_DIR/runs/$b.json")
	run cosmos kill "$c0"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$c0.json")" cancelled
	run cosmos kill "$b"
	assert_success
	assert_equal "$(cosmos-manifest --batch "$b" | jq -r .status | tr '\n' ' ')" "cancelled cancelled cancelled "
	job=$(jq -r .job.array_job_id "$COSMOS_DIR/runs/$c0.json")
	for i in $(seq 50); do [ -z "$(squeue -h -r -j "$job" -t PENDING,RUNNING -o %i)" ] && break; sleep 0.2; done
	assert_equal "$(squeue -h -r -j "$job" -t PENDING,RUNNING -o %i)" ""
}

@test "a job over its time limit is failed with reason_code timeout (Slurm's limits are whole minutes: about 90 s)" {
	standin_model sleep 300
	id=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4" | cosmos-submit --host cluster-short | jq -r .id)
	run cosmos-sync --wait --interval 3 --timeout 200 "$id"
	assert_failure 1
	assert_equal "$(jq -r '[.status, .reason_code, .reason] | join("|")' "$COSMOS_DIR/runs/$id.json")" \
		"failed|timeout|Slurm ended the job: TIMEOUT"
}

@test "a job Slurm requeues stays running, and its requeue count grows once" {
	running_slow_job
	scontrol requeue "$job"
	for i in $(seq 50); do [ "$(squeue -h -j "$job" -o %T)" != RUNNING ] && break; sleep 0.2; done
	run cosmos-sync "$id"
	assert_success
	assert_equal "$(jq -r '[.status, .job.requeues] | join(" ")' <<<"$output")" "running 1"
	[ -n "$(jq -r .job.queue_reason <<<"$output")" ]
	run cosmos-sync "$id"
	assert_output ""
	cosmos kill "$id" >/dev/null
}

@test "a fan-out batch of 1,000 children is still one sbatch (the command does not grow with the batch)" {
	req=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4")
	for i in $(seq 1000); do echo "$req"; done >"$BATS_TEST_TMPDIR/reqs"
	before=$(grep -c . "$SSHD_DIR/state/sbatch.log" 2>/dev/null || true)
	run --separate-stderr bash -c "COSMOS_HOST_SBATCH_OPTIONS=--hold cosmos-batch --host cluster --delay 0 <'$BATS_TEST_TMPDIR/reqs'"
	assert_success
	assert_equal "$(jq -c 'select(.event == "batch.completed") | [.success_count, .total]' <<<"$output")" "[1000,1000]"
	assert_equal "$(( $(grep -c . "$SSHD_DIR/state/sbatch.log") - ${before:-0} ))" 1
	b=$(jq -r .batch_id <<<"${lines[0]}")
	job=$(jq -r .job.array_job_id "$COSMOS_DIR/runs/$(jq -r '.execution_config.child_run_ids[999]' "$COSMOS_DIR/runs/$b.json").json")
	assert_equal "$(squeue -h -r -j "$job" -o %i | wc -l)" 1000
	scancel "$job"
}

@test "cosmos hosts: the partition's nodes with their state and GRES, from one sinfo" {
	cmds=$(grep -c 'Starting session: command' "$SSHD_DIR/sshd.log" || true)
	run cosmos hosts cluster cluster-slow
	assert_success
	# Each host: the install and one cosmos-ctl hosts (one sinfo).
	assert_equal "$(( $(grep -c 'Starting session: command' "$SSHD_DIR/sshd.log") - cmds ))" 4
	assert_equal "$(jq -c '[.host, .backend, .reachable, .partition, [.nodes[] | [.node, .gres]]]' <<<"$output" | tr '\n' ' ')" \
		'["cluster","slurm",true,"gpu",[["cosmosnode","gpu:tesla:2"]]] ["cluster-slow","slurm",true,null,[["cosmosnode","gpu:tesla:2"]]] '
	assert_equal "$(jq -r '.nodes[] | .partition' <<<"$output" | sort -u | tr '\n' ' ')" "gpu* "
	assert_equal "$(jq -r '.nodes[] | .state' <<<"$output" | grep -cvE '^(idle|mixed|allocated)$')" 0
	run script -qec "NO_COLOR=1 cosmos hosts cluster" /dev/null
	assert_success
	assert_line --index 0 --regexp $'^cluster \\(slurm\\): 1 node in partition gpu: 1 (idle|mixed|allocated)\r$'
	assert_line --index 1 --regexp $'^  cosmosnode +gpu\\* +(idle|mixed|allocated) +gpu:tesla:2\r$'
}

# killed_array_start MODE: a fan-out of three on cluster, SIGKILLed
# (cosmos-batch and its cosmos-submit) while the host's sbatch is held
# (t/standin/sbatch-held MODE: before it submits, or after); then the hold
# is let go and the start command on the host is waited for.  The batch
# in $b, its children in $kids (in order).
killed_array_start() {
	local pid i pgid subs req
	req=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4")
	for i in 1 2 3; do echo "$req"; done >"$BATS_TEST_TMPDIR/reqs"
	cp "$BATS_TEST_DIRNAME/standin/sbatch-held" "$SSHD_DIR/bin/sbatch"
	echo "$1" >"$SSHD_DIR/state/sbatch-hold"
	cosmos-batch --host cluster --delay 0 <"$BATS_TEST_TMPDIR/reqs" >/dev/null 2>&1 &
	pid=$!
	for i in $(seq 300); do [ -s "$SSHD_DIR/state/sbatch-held" ] && break; sleep 0.1; done
	assert_file_exists "$SSHD_DIR/state/sbatch-held"
	subs=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
	# shellcheck disable=SC2086 # PIDs
	kill -KILL "$pid" $subs
	wait "$pid" || true
	pgid=$(cat "$SSHD_DIR/state/sbatch-held")
	rm -f "$SSHD_DIR/state/sbatch-hold"
	for i in $(seq 300); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$SSHD_DIR/state/sbatch-held"
	cp "$BATS_TEST_DIRNAME/standin/sbatch" "$SSHD_DIR/bin/sbatch"
	b=$(cosmos-manifest --type batch --limit 1 | jq -r .id)
	kids=$(jq -r '.execution_config.child_run_ids[]' "$COSMOS_DIR/runs/$b.json" | tr '\n' ' ')
	assert_equal "$(for c in $kids; do jq -r .status "$COSMOS_DIR/runs/$c.json"; done | tr '\n' ' ')" "pending pending pending "
}

# each_started_once: every child in $kids completed, its job started once.
each_started_once() {
	local c
	for c in $kids; do
		assert_equal "$c $(jq -r .status "$COSMOS_DIR/runs/$c.json")" "$c completed"
		assert_equal "$c $(grep -c '^\[COSMOS_START\]' "$(cluster)/outputs/run_$c/run.log")" "$c 1"
	done
}

@test "a job array start killed after its job scripts, before sbatch: a sync adopts none, --resume starts each child once" {
	killed_array_start before
	for c in $kids; do assert_file_exists "$(cluster)/runs/$c.sh"; done # what the kill left
	run cosmos-sync # says the children never started
	assert_failure 1
	assert_equal "$(for c in $kids; do jq -r .status "$COSMOS_DIR/runs/$c.json"; done | tr '\n' ' ')" "pending pending pending "
	before=$(grep -c . "$SSHD_DIR/state/sbatch.log" 2>/dev/null || true)
	run --separate-stderr cosmos-batch --resume "$b" --delay 0
	assert_success
	assert_equal "$(jq -c 'select(.event == "batch.completed") | [.success_count, .total]' <<<"$output")" "[3,3]"
	assert_equal "$(( $(grep -c . "$SSHD_DIR/state/sbatch.log") - ${before:-0} ))" 1
	job=$(jq -r .job.array_job_id "$COSMOS_DIR/runs/${kids%% *}.json")
	assert_equal "$(for c in $kids; do jq -r .job.handle "$COSMOS_DIR/runs/$c.json"; done | tr '\n' ' ')" "${job}_0 ${job}_1 ${job}_2 "
	run wait_all "$b"
	assert_success
	each_started_once
}

@test "a job array start killed after sbatch returned, before its children were recorded: a sync adopts each as its task; --resume starts none again" {
	killed_array_start after
	job=$(squeue -h -n "cosmos_batch_${b:0:8}" -o %F | sort -u)
	[[ $job =~ ^[0-9]+$ ]]
	run cosmos-sync
	assert_equal "$(for c in $kids; do jq -r '[.job.handle, .job.adopted, .status != "pending"] | join(" ")' "$COSMOS_DIR/runs/$c.json"; done | tr '\n' ,)" \
		"${job}_0 true true,${job}_1 true true,${job}_2 true true,"
	before=$(grep -c . "$SSHD_DIR/state/sbatch.log")
	run --separate-stderr cosmos-batch --resume "$b" --delay 0
	assert_success
	assert_equal "$(grep -c . "$SSHD_DIR/state/sbatch.log")" "$before"
	run wait_all "$b"
	assert_success
	each_started_once
}

@test "a job array start whose shell on the host was killed after sbatch, before the job ids: --resume finds the array in squeue and starts none again" {
	killed_array_start after-kill
	job=$(squeue -h -n "cosmos_batch_${b:0:8}" -o %F | sort -u)
	[[ $job =~ ^[0-9]+$ ]]
	before=$(grep -c . "$SSHD_DIR/state/sbatch.log")
	run --separate-stderr cosmos-batch --resume "$b" --delay 0
	assert_success
	assert_equal "$(grep -c . "$SSHD_DIR/state/sbatch.log")" "$before"
	assert_equal "$(for c in $kids; do jq -r .job.handle "$COSMOS_DIR/runs/$c.json"; done | tr '\n' ' ')" "${job}_0 ${job}_1 ${job}_2 "
	run wait_all "$b"
	assert_success
	each_started_once
}

@test "--resume of a job array whose submit was killed while recording its children adopts each child left as its own task" {
	req=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4")
	run --separate-stderr bash -c "for i in 1 2 3; do echo '$req'; done | COSMOS_HOST_SBATCH_OPTIONS=--hold cosmos-batch --host cluster --delay 0"
	assert_success
	b=$(jq -r .batch_id <<<"${lines[0]}")
	kids=$(jq -r '.execution_config.child_run_ids[]' "$COSMOS_DIR/runs/$b.json" | tr '\n' ' ')
	read -r c0 c1 c2 <<<"$kids"
	job=$(jq -r .job.array_job_id "$COSMOS_DIR/runs/$c0.json")
	orphan "$c1"
	orphan "$c2"
	before=$(grep -c . "$SSHD_DIR/state/sbatch.log")
	run --separate-stderr cosmos-batch --resume "$b" --delay 0
	assert_success
	assert_equal "$(grep -c . "$SSHD_DIR/state/sbatch.log")" "$before"
	assert_equal "$(for c in $kids; do jq -r '[.status, .job.handle] | join(" ")' "$COSMOS_DIR/runs/$c.json"; done | tr '\n' ,)" \
		"submitted ${job}_0,submitted ${job}_1,submitted ${job}_2,"
	scancel "$job"
}

# killed_single_start MODE: one run on cluster, its cosmos-submit SIGKILLed
# while the host's sbatch is held (t/standin/sbatch-held MODE); the hold
# let go and the start command waited for.  The run in $id, pending.
killed_single_start() {
	local pid i pgid
	req=$(cosmos-spec upscale --video "$CLIPS/full/color.mp4")
	cp "$BATS_TEST_DIRNAME/standin/sbatch-held" "$SSHD_DIR/bin/sbatch"
	echo "$1" >"$SSHD_DIR/state/sbatch-hold"
	cosmos-submit --host cluster <<<"$req" >/dev/null 2>&1 &
	pid=$!
	for i in $(seq 300); do [ -s "$SSHD_DIR/state/sbatch-held" ] && break; sleep 0.1; done
	assert_file_exists "$SSHD_DIR/state/sbatch-held"
	kill -KILL "$pid"
	wait "$pid" || true
	pgid=$(cat "$SSHD_DIR/state/sbatch-held")
	rm -f "$SSHD_DIR/state/sbatch-hold"
	for i in $(seq 300); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$SSHD_DIR/state/sbatch-held"
	cp "$BATS_TEST_DIRNAME/standin/sbatch" "$SSHD_DIR/bin/sbatch"
	id=$(jq -r .id "$COSMOS_DIR"/runs/rs_*.json)
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" pending
}

@test "a single start killed after its job script, before sbatch: its run_id request starts it once, and it completes" {
	killed_single_start before
	assert_file_exists "$(cluster)/runs/$id.sh" # what the kill left
	before=$(grep -c . "$SSHD_DIR/state/sbatch.log" 2>/dev/null || true)
	run --separate-stderr cosmos-submit --host cluster <<<"$(jq -c --arg id "$id" '. + {run_id: $id}' <<<"$req")"
	assert_success
	assert_equal "$(( $(grep -c . "$SSHD_DIR/state/sbatch.log") - ${before:-0} ))" 1
	[[ $(jq -r .job.handle "$COSMOS_DIR/runs/$id.json") =~ ^[0-9]+$ ]] || fail "no job id: $(cat "$COSMOS_DIR/runs/$id.json")"
	run wait_all "$id"
	assert_success
	assert_equal "$(grep -c '^\[COSMOS_START\]' "$(cluster)/outputs/run_$id/run.log")" 1
}

@test "a single start whose shell on the host was killed after sbatch, before the job id: its run_id request finds the job in squeue, none started again" {
	# Held by Slurm: still in squeue when the next start asks.
	COSMOS_HOST_SBATCH_OPTIONS=--hold killed_single_start after-kill
	job=$(squeue -h -n "cosmos_upscale_${id:0:8}" -o %i)
	[[ $job =~ ^[0-9]+$ ]]
	before=$(grep -c . "$SSHD_DIR/state/sbatch.log")
	run --separate-stderr cosmos-submit --host cluster <<<"$(jq -c --arg id "$id" '. + {run_id: $id}' <<<"$req")"
	assert_success
	assert_equal "$(grep -c . "$SSHD_DIR/state/sbatch.log")" "$before"
	assert_equal "$(jq -r .job.handle "$COSMOS_DIR/runs/$id.json")" "$job"
	scontrol release "$job"
	run wait_all "$id"
	assert_success
	assert_equal "$(grep -c '^\[COSMOS_START\]' "$(cluster)/outputs/run_$id/run.log")" 1
}

# engine = transfer2.5 on a Slurm host (container = none): the job runs
# engine-transfer25 in the work dir, the cosmos-transfer2.5 checkout,
# whose examples/inference.py and torchrun are t/upstream25's stand-ins.
# The run's GPUs are the ones Slurm gave the job: its --gres (the host's
# gpu:tesla:1, or num_gpus of that type) and torchrun's --nproc_per_node.

# t25_world ID: "nproc_per_node WORLD_SIZE GPUS" upstream's stand-in was
# run with, GPUS those CUDA_VISIBLE_DEVICES names (Slurm's, for the job).
t25_world() {
	jq -r '"\(.nproc_per_node) \(.WORLD_SIZE) \(.CUDA_VISIBLE_DEVICES | split(",") | length)"' \
		"$(cluster)/outputs/run_$1/inference_world.json"
}

@test "engine = transfer2.5 on the cluster: a transfer runs to completion in its Slurm job, the spec reaching upstream's inference.py on one GPU" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	before=$(grep -c . "$SSHD_DIR/state/sbatch.log" 2>/dev/null || true)
	id=$(cosmos-spec transfer --weights edge=1 "$p" | cosmos-submit --host cluster-t25 | jq -r .id)
	job=$(jq -r .job.handle "$COSMOS_DIR/runs/$id.json")
	[[ $job =~ ^[0-9]+$ ]] || fail "no job: $(cat "$COSMOS_DIR/runs/$id.json")"
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -r '[.status, .backend, .host] | join(" ")' "$COSMOS_DIR/runs/$id.json")" "completed slurm cluster-t25"
	cmp "$COSMOS_DIR/runs/$id/outputs/output.mp4" "$CLIPS/full/color.mp4"
	out=$(cluster)/outputs/run_$id
	grep -qx "COSMOS_ENGINE='transfer2.5'" "$(cluster)/runs/$id.sh"
	grep -q ' engine=transfer2.5 ' "$out/run.log"
	# Upstream validated the spec (its .json) and ran edge's model.
	sha=$(sha256sum "$CLIPS/full/color.mp4" | cut -c1-64)
	assert_equal "$(jq -r --arg sha "$sha" '[.name, .prompt, .guidance, (.video_path | endswith("/cas/\($sha).mp4"))] | join(" ")' "$out/output.json")" \
		"output a robot arm 3 true"
	assert_equal "$(jq -r '.[index("--model") + 1]' "$out/inference_argv.json")" edge
	# One sbatch, asking the host's gres; one GPU, one process.
	assert_equal "$(( $(grep -c . "$SSHD_DIR/state/sbatch.log") - ${before:-0} ))" 1
	tail -n 1 "$SSHD_DIR/state/sbatch.log" | grep -q -- " --gres=gpu:tesla:1 "
	assert_equal "$(squeue -h -t all -j "$job" -o '%T %b' | sed 's,gres[:/],,')" "COMPLETED gpu:tesla:1"
	assert_equal "$(t25_world "$id")" "1 1 1"
}

@test "engine = transfer2.5 on the cluster: a 2-GPU transfer is a job of gpu:tesla:2 and one torchrun of two processes" {
	p=$(make_prompt "a robot arm" "$CLIPS/full")
	id=$(cosmos-spec transfer --weights depth=0.5 --gpus 2 "$p" | cosmos-submit --host cluster-t25 | jq -r .id)
	job=$(jq -r .job.handle "$COSMOS_DIR/runs/$id.json")
	tail -n 1 "$SSHD_DIR/state/sbatch.log" | grep -q -- " --gres=gpu:tesla:2 "
	run wait_all "$id"
	assert_success
	assert_equal "$(jq -r .status "$COSMOS_DIR/runs/$id.json")" completed
	assert_equal "$(squeue -h -t all -j "$job" -o '%T %b' | sed 's,gres[:/],,')" "COMPLETED gpu:tesla:2"
	assert_equal "$(t25_world "$id")" "2 2 2"
	assert_equal "$(jq -r '.[index("--model") + 1]' "$(cluster)/outputs/run_$id/inference_argv.json")" depth
}

@test "engine = transfer2.5 on the cluster: a request upstream would refuse fails bad_request before any sbatch or upload" {
	# A clip of this test's own: no other test has put it on the cluster.
	mkdir -p "$BATS_TEST_TMPDIR/clip"
	ffmpeg -loglevel error -f lavfi -i testsrc=size=96x64:rate=12 -t 0.5 -pix_fmt yuv420p "$BATS_TEST_TMPDIR/clip/color.mp4"
	sha=$(sha256sum "$BATS_TEST_TMPDIR/clip/color.mp4" | cut -c1-64)
	p=$(make_prompt "a robot arm" "$BATS_TEST_TMPDIR/clip")
	before=$(grep -c . "$SSHD_DIR/state/sbatch.log" 2>/dev/null || true)
	run --separate-stderr bash -c "cosmos-spec transfer --guidance 9 $p | cosmos-submit --host cluster-t25"
	assert_failure 1
	id=$(jq -r .id <<<"$output")
	assert_equal "$(jq -r '[.status, .reason_code, .reason] | join("|")' "$COSMOS_DIR/runs/$id.json")" \
		"failed|bad_request|transfer2.5 takes guidance as a whole number from 0 to 7; this request has 9"
	assert_equal "$stderr" "cosmos-submit: stdin:1: $id: transfer2.5 takes guidance as a whole number from 0 to 7; this request has 9"
	run --separate-stderr bash -c "cosmos-spec upscale --video '$BATS_TEST_TMPDIR/clip/color.mp4' | cosmos-submit --host cluster-t25"
	assert_failure 1
	up=$(jq -r .id <<<"$output")
	assert_equal "$(jq -r '[.status, .reason_code, .reason] | join("|")' "$COSMOS_DIR/runs/$up.json")" \
		"failed|bad_request|transfer2.5 has no 4K upscaler: send upscale requests to a Transfer1 host (engine = cosmos)"
	# Nothing reached the cluster: no sbatch, no job file, no input.
	assert_equal "$(grep -c . "$SSHD_DIR/state/sbatch.log" 2>/dev/null || true)" "${before:-0}"
	assert_file_not_exists "$(cluster)/runs/$id.sh"
	assert_file_not_exists "$(cluster)/runs/$up.sh"
	assert_file_not_exists "$(cluster)/cas/$sha.mp4"
	assert_equal "$(squeue -h -t all -n "cosmos_transfer_${id:0:8},cosmos_upscale_${up:0:8}" -o %i)" ""
}

# engine_under_slurm VAR=VALUE ...: engine-transfer25 run as a Slurm job
# runs it (SLURM_JOB_ID set, with VAR=VALUE ... and no other
# CUDA_VISIBLE_DEVICES) on a node whose nvidia-smi lists three GPUs (the
# stand-in); "nproc_per_node WORLD_SIZE" its torchrun started.
engine_under_slurm() {
	local w=$BATS_TEST_TMPDIR/t25
	rm -rf "$w"
	mkdir -p "$w/examples" "$w/out" "$w/bin" "$w/state"
	ln -s "$BATS_TEST_DIRNAME/upstream25/examples/inference.py" "$w/examples/"
	ln -s "$BATS_TEST_DIRNAME/standin/nvidia-smi" "$BATS_TEST_DIRNAME/upstream25/torchrun" "$w/bin/"
	echo 3 >"$w/state/gpus"
	cp "$CLIPS/full/color.mp4" "$w/out/in.mp4"
	echo '{"name":"output","prompt":"p","video_path":"in.mp4","edge":{"control_weight":1}}' >"$w/out/spec_used.json"
	(cd "$w" && env -u CUDA_VISIBLE_DEVICES PATH="$w/bin:$PATH" STANDIN_STATE="$w/state" SLURM_JOB_ID=7 "$@" \
		sh -c '. "$1" && run_engine transfer out/spec_used.json out' sh "$BATS_TEST_DIRNAME/../share/cosmos/remote/engine-transfer25") >&2
	jq -r '"\(.nproc_per_node) \(.WORLD_SIZE)"' "$w/out/inference_world.json"
}

@test "engine = transfer2.5 in a Slurm job on a node whose gres.conf names no GPU device files: it runs on SLURM_GPUS_ON_NODE GPUs, not every GPU the node has" {
	# Slurm makes CUDA_VISIBLE_DEVICES from gres.conf's File= devices;
	# without them it sets none, or NoDevFiles, and nvidia-smi lists all
	# of the node's GPUs, the job's or not (here three).
	assert_equal "$(engine_under_slurm SLURM_GPUS_ON_NODE=2)" "2 2"
	assert_equal "$(engine_under_slurm SLURM_GPUS_ON_NODE=2 CUDA_VISIBLE_DEVICES=NoDevFiles)" "2 2"
	# Where Slurm names the job's GPUs, they are counted, as before.
	assert_equal "$(engine_under_slurm SLURM_GPUS_ON_NODE=2 CUDA_VISIBLE_DEVICES=0,1)" "2 2"
}
