#!/usr/bin/env bats
# Every README example that can run here: the blocks tagged tour-local,
# tour-make, tour-host, tour-gpu, tour-slurm and tour-http, run in order,
# as written.

load helper
load sshd
load slurm
load videoapi

# readme_blocks TAG: the code of every block whose info string ends in TAG.
readme_blocks() {
	awk -v tag="$1" '
		/^```/ { if (inside) { inside = 0; next } if ($0 ~ (" " tag "$")) { inside = 1; next } }
		inside { print }
	' "$BATS_TEST_DIRNAME/../README.md"
}

tour_dir() {
	cd "$BATS_TEST_TMPDIR"
	mkdir -p shots/robot clips
	cp "$CLIPS/color-only/color.mp4" shots/robot/color.mp4
	cp "$CLIPS/color-only/color.mp4" clips/a.mp4
	cp "$CLIPS/color-only/color.mp4" clips/b.mp4
}

@test "README: the README has tour blocks of each kind" {
	[ "$(readme_blocks tour-local | grep -c .)" -ge 10 ]
	[ "$(readme_blocks tour-make | grep -c .)" -ge 5 ]
	[ "$(readme_blocks tour-host | grep -c .)" -ge 5 ]
	[ "$(readme_blocks tour-gpu | grep -c .)" -ge 5 ]
}

@test "README: the tour on this machine runs as written" {
	tour_dir
	readme_blocks tour-local >tour.sh
	COSMOS_CONFIG=$BATS_TEST_TMPDIR/no-hosts run bash -e -o pipefail tour.sh
	assert_success
	assert_line --regexp '^\{"id":"ps_[0-9a-f]{32}","name":"arm_[0-9]{8}_[0-9]{6}","inputs":\{"video":"/.*/shots/arm_[0-9_]+/color\.mp4","depth":"/.*/depth\.mp4"\}\}$'
	assert_line --partial "[reference engine] lanczos upscale to 3840x2112"
	assert_line "3840,2112"
	assert_line --regexp $'^.*/clips/a\\.mp4\tcompleted$'
	assert_line '{"total":2,"completed":2,"failed":0}'
	# The packed batch: both children completed from one container, both prompts enhanced.
	assert_equal "$(grep -cP '^[01]\tcompleted\tcosmos_batch_rs_[0-9a-f]{5}\t/.*/output\.mp4$' <<<"$output")" 2
	assert_line "a robot arm stacks red cubes, in rich detail, with soft cinematic light"
	assert_line --regexp '"previous_texts":\["a robot arm sorts blue balls"\]'
	assert_line "gallery/index.html"
	refute_output --partial '"status":"failed"'
	refute_output --partial '"success":false'
}

@test "README: the Makefile example runs as written" {
	tour_dir
	readme_blocks tour-make >Makefile
	COSMOS_CONFIG=$BATS_TEST_TMPDIR/no-hosts run make -j4
	assert_success
	assert_equal "$(jq -r .status upscaled.jsonl | sort -u)" completed
	assert_equal "$(wc -l <upscaled.jsonl)" 2
}

# tour_on_gpu1 TAG [PREPARE]: the blocks tagged TAG run against the test
# host as the README's [gpu1], after the function PREPARE if given.
tour_on_gpu1() {
	sshd_start
	sed -i 's/^\[testhost\]/[gpu1]/' "$COSMOS_CONFIG"
	[ -z "${2:-}" ] || "$2"
	tour_dir
	readme_blocks "$1" >tour.sh
	run bash -e -o pipefail tour.sh
	sshd_stop
}

@test "README: the GPU host tour runs as written against the test host" {
	tour_on_gpu1 tour-host
	assert_success
	assert_line --regexp '"host":"gpu1"'
	assert_line --regexp '"uploaded":0'
	assert_line "[COSMOS_COMPLETE] exit_code=0"
}

# Two stand-in GPUs on the test host, and runs of 2 s.
two_gpus() {
	cp "$BATS_TEST_DIRNAME/standin/nvidia-smi" "$SSHD_DIR/bin/"
	echo 2 >"$SSHD_DIR/state/gpus"
	standin_model sleep 2
}

@test "README: the GPU slots tour runs as written against the test host with two stand-in GPUs" {
	tour_on_gpu1 tour-gpu two_gpus
	assert_success
	assert_output --partial '"queue_reason":"waiting for 1 GPU, 1st in line"'
	assert_output --partial '"queue_reason":"waiting for 1 GPU, 4th in line"'
	assert_output --regexp '"gpus":\[\{"index":0,[^]]*"run":"rs_[0-9a-f]{32}"\},\{"index":1,[^]]*"run":"rs_[0-9a-f]{32}"\}\]'
	assert_output --partial '"waiting":[{"run":"rs_'
	assert_equal "$(grep -cP '^rs_[0-9a-f]{32}\tcompleted\t[01]$' <<<"$output")" 6
}

@test "README: the Slurm tour runs as written against the test cluster" {
	[ "$(id -u)" = 0 ] || skip "slurmd needs root"
	slurm_prepare
	SSHD_SETENV="SLURM_CONF=$SLURM_CONF" sshd_start
	slurm_start
	# The README's [cluster], with the test host's address and login.
	slurm_host cluster engine=reference partition=gpu >"$COSMOS_CONFIG"
	tour_dir
	readme_blocks tour-slurm >tour.sh
	run bash -e -o pipefail tour.sh
	slurm_stop
	sshd_stop
	assert_success
	assert_line --regexp '^\{"id":"rs_[0-9a-f]{32}","status":"submitted","host":"cluster","job":\{"handle":"[0-9]+","runtime":"slurm"'
	assert_line --regexp '^\{"id":"rs_[0-9a-f]{32}","status":"completed","exit_code":0\}$'
}

@test "README: the hosted-model tour runs as written against the providers' APIs on loopback" {
	videoapi_start
	# The README's [veo] and [rep], at the loopback server.
	{
		videoapi_host veo gemini
		videoapi_host rep replicate upscale_model=topazlabs/video-upscale
	} >"$BATS_TEST_TMPDIR/hosts"
	videoapi_control '{"run_seconds": 0.3}'
	tour_dir
	readme_blocks tour-http >tour.sh
	COSMOS_CONFIG=$BATS_TEST_TMPDIR/hosts run bash -e -o pipefail tour.sh
	videoapi_stop
	assert_success
	assert_line --regexp '^\{"id":"rs_[0-9a-f]{32}","status":"submitted","job":"models/veo-3.1-generate-preview/operations/[a-z0-9]+"\}$'
	assert_line --regexp '^\{"id":"rs_[0-9a-f]{32}","status":"completed","files":\{"output.mp4":[0-9]+\}\}$'
	assert_line --regexp '^\{"index":0,"success":true,"source_run_id":"rs_[0-9a-f]{32}","operation":"[a-z0-9]+"\}$'
	assert_line --regexp '^\{"status":"completed","source":"rs_[0-9a-f]{32}","model":"topazlabs/video-upscale"\}$'
}
