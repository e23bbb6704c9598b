#!/usr/bin/env bats
# make install: PREFIX and DESTDIR; the installed programs and pages work.

load helper

@test "make install DESTDIR=... PREFIX=/usr installs programs, share/cosmos and man pages" {
	dest="$BATS_TEST_TMPDIR/inst"
	run make -s -C "$BATS_TEST_DIRNAME/.." install DESTDIR="$dest" PREFIX=/usr
	assert_success
	assert_file_executable "$dest/usr/bin/cosmos-spec"
	assert_file_executable "$dest/usr/bin/cosmos-manifest"
	assert_file_exists "$dest/usr/share/cosmos/demo"
	assert_file_exists "$dest/usr/share/man/man7/cosmos.7"
	for page in "$dest"/usr/share/man/man*/*; do
		run mandoc -T lint -W warning "$page"
		assert_success
		assert_output ""
	done
	p=$("$dest/usr/bin/cosmos-spec" prompt x "$CLIPS/full" | jq -r .id)
	run "$dest/usr/bin/cosmos-manifest" --type prompt
	assert_equal "$(jq -r .id <<<"$output")" "$p"
}

# lib/ returns errors and programs decide exit codes (cosmos(7)); the only
# ends in lib/ are those of memory (or the kernel's randomness) run out,
# as xmalloc's.  lib/http.c once ended the process on a libcurl
# multi-interface error (#20).
@test "lib/ never ends the process but for memory or randomness run out" {
	run bash -c "grep -nE '(^|[^_a-z])(errx?_|exit)\(' '$BATS_TEST_DIRNAME'/../lib/*.c | grep -v '/lib/util\.c:' |
		grep -vE '\"(out of memory|vasprintf|getrandom|cannot serialize record)\"'"
	assert_failure 1
	assert_output ""
}
