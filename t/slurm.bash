# slurm.bash - a real single-node Slurm on loopback, as the test cluster.
#
# slurm_prepare (before sshd_start) writes the config; slurm_start then
# starts munged with its own key and socket, slurmctld and slurmd (node
# "cosmosnode" with two fake GPUs of type tesla declared as GRES: a job
# may ask gpu:N or gpu:tesla:N) with their own slurm.conf, state and
# spool directories and free ports: nothing is written to /etc.  Clients
# find the cluster through SLURM_CONF, which the sshd test host's
# sessions get too (SSHD_SETENV).  slurm_stop stops every daemon by PID.
# Needs root (slurmd runs jobs as the SSH user); without it the caller
# skips.

slurm_free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && { echo "$p"; return; }
	done
}

slurm_prepare() {
	SLURM_DIR=$(mktemp -d /tmp/cosmos-slurm.XXXXXX)
	chmod 755 "$SLURM_DIR"
	mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool" "$SLURM_DIR/log" "$SLURM_DIR/munge" "$SLURM_DIR/key"
	chmod 755 "$SLURM_DIR/munge" "$SLURM_DIR/log"
	chmod 700 "$SLURM_DIR/key"
	dd if=/dev/urandom of="$SLURM_DIR/key/munge.key" bs=1024 count=1 2>/dev/null
	chmod 400 "$SLURM_DIR/key/munge.key"
	local host ctl node
	host=$(hostname -s)
	ctl=$(slurm_free_port)
	node=$(slurm_free_port)
	cat >"$SLURM_DIR/slurm.conf" <<-EOF2
		ClusterName=cosmostest
		SlurmctldHost=$host(127.0.0.1)
		SlurmctldPort=$ctl
		SlurmdPort=$node
		AuthType=auth/munge
		AuthInfo=socket=$SLURM_DIR/munge/socket
		CredType=cred/munge
		SlurmUser=root
		SlurmdUser=root
		StateSaveLocation=$SLURM_DIR/state
		SlurmdSpoolDir=$SLURM_DIR/spool
		SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
		SlurmdPidFile=$SLURM_DIR/slurmd.pid
		SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
		SlurmdLogFile=$SLURM_DIR/log/slurmd.log
		ProctrackType=proctrack/linuxproc
		TaskPlugin=task/none
		JobAcctGatherType=jobacct_gather/none
		AccountingStorageType=accounting_storage/none
		JobCompType=jobcomp/filetxt
		JobCompLoc=$SLURM_DIR/log/jobcomp.log
		MpiDefault=none
		SchedulerType=sched/backfill
		SelectType=select/cons_tres
		SelectTypeParameters=CR_Core
		GresTypes=gpu
		MinJobAge=600
		MessageTimeout=5
		ReturnToService=2
		NodeName=cosmosnode NodeHostname=$host NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 Gres=gpu:tesla:2 State=UNKNOWN
		PartitionName=gpu Nodes=cosmosnode Default=YES MaxTime=INFINITE State=UP
	EOF2
	# Two fake GPUs: any character devices will do with task/none.
	printf 'NodeName=cosmosnode Name=gpu Type=tesla File=/dev/null\nNodeName=cosmosnode Name=gpu Type=tesla File=/dev/zero\n' >"$SLURM_DIR/gres.conf"
	export SLURM_DIR SLURM_CONF=$SLURM_DIR/slurm.conf
}

slurm_start_ctld() {
	slurmctld -D -i >>"$SLURM_DIR/log/slurmctld.out" 2>&1 &
	SLURMCTLD_PID=$!
	echo "$SLURMCTLD_PID" >"$SLURM_DIR/ctld.pid"
	local i
	for i in $(seq 50); do
		scontrol ping 2>/dev/null | grep -q UP && return 0
		sleep 0.2
	done
	cat "$SLURM_DIR/log/slurmctld.log" >&2
	return 1
}

# slurm_node_up: after a controller's restart, wait until slurmd has
# registered again (its node no longer UNKNOWN).  Slurm 22.05 keeps a GPU
# of a job cancelled before that allocated for ever (GresUsed stays 1),
# and every later job asking both GPUs then pends on Resources.
slurm_node_up() {
	local i
	for i in $(seq 100); do
		scontrol show node cosmosnode 2>/dev/null | grep -q 'State=UNKNOWN' || return 0
		sleep 0.1
	done
	return 1
}

# slurm_gpus_free: wait until no GPU of the node is allocated; should
# one stay so with no job left (the leak above), restart the controller,
# which counts them again from its jobs.
slurm_gpus_free() {
	local i
	for i in $(seq 100); do
		scontrol -d show node cosmosnode | grep -q 'GresUsed=gpu:tesla:0' && return 0
		sleep 0.2
	done
	slurm_stop_ctld
	slurm_start_ctld && slurm_node_up || return 1
	scontrol -d show node cosmosnode | grep -q 'GresUsed=gpu:tesla:0'
}

slurm_stop_ctld() {
	kill "$(cat "$SLURM_DIR/ctld.pid")" 2>/dev/null
	local i
	for i in $(seq 50); do
		kill -0 "$(cat "$SLURM_DIR/ctld.pid")" 2>/dev/null || return 0
		sleep 0.1
	done
}

slurm_start() {
	munged -f --socket="$SLURM_DIR/munge/socket" --key-file="$SLURM_DIR/key/munge.key" \
		--log-file="$SLURM_DIR/log/munged.log" --pid-file="$SLURM_DIR/munge/munged.pid" \
		--seed-file="$SLURM_DIR/key/seed" || return 1
	slurm_start_ctld || return 1
	slurmd -D -N cosmosnode >>"$SLURM_DIR/log/slurmd.out" 2>&1 &
	echo $! >"$SLURM_DIR/d.pid"
	local i
	for i in $(seq 100); do
		sinfo -h -n cosmosnode -o %T 2>/dev/null | grep -qx idle && return 0
		sleep 0.2
	done
	sinfo >&2
	cat "$SLURM_DIR/log/slurmd.log" >&2
	return 1
}

slurm_stop() {
	[ -n "${SLURM_DIR:-}" ] || return 0
	scancel --quiet --user="${SSH_USER:-cosmos-test}" 2>/dev/null
	local f
	for f in d.pid ctld.pid munge/munged.pid; do
		[ -f "$SLURM_DIR/$f" ] && kill "$(cat "$SLURM_DIR/$f")" 2>/dev/null
	done
	sleep 0.5
	rm -rf "$SLURM_DIR"
}

# slurm_host NAME [KEY=VALUE ...]: a hosts file section for the test
# cluster, its login node the sshd test host, its work dir $SSHD_DIR/cluster.
slurm_host() {
	local kv
	printf '\n[%s]\nbackend = slurm\naddress = 127.0.0.1\nport = %s\nuser = %s\n' "$1" "$SSHD_PORT" "$SSH_USER"
	printf 'identity = %s\nknown_hosts = %s\nworkdir = %s\n' "$SSHD_DIR/id_ed25519" "$SSHD_DIR/known_hosts" "$SSHD_DIR/cluster"
	shift
	for kv; do printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"; done
	mkdir -p "$SSHD_DIR/cluster"
	chown "$SSH_USER" "$SSHD_DIR/cluster"
}
