/*
 * fuzz-config.c: libFuzzer harness for the configuration loader: the input
 * is written to a file and loaded as m2wo.conf with every regex compiled
 * (--check-config), then its token files are checked. A crash, a sanitizer
 * report, a leak, or a problem that is not one line with "FILE:" in front
 * is a bug.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m2wo.h"

static char *fuzz_dir;
static char *fuzz_path;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Token files next to the configuration, so that relative token_file
 * values ("token") find something to check. */
static void
fuzz_token(const char *name, mode_t mode)
{
	g_autofree char *path = g_build_filename(fuzz_dir, name, NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, "test-token-not-real\n", 20) != 20)
		abort();
	close(fd);
	chmod(path, mode);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_dir = g_dir_make_tmp("m2wo-fuzzconf-XXXXXX", NULL);
	if (fuzz_dir == NULL)
		abort();
	fuzz_path = g_build_filename(fuzz_dir, "m2wo.conf", NULL);
	fuzz_token("token", 0600);
	fuzz_token("software-token", 0600);
	fuzz_token("open-token", 0644);
	return 0;
}

static void
fuzz_write(const uint8_t *data, size_t size)
{
	int fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t) size))
		abort();
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(m2wo_config_t) config = NULL;

	fuzz_write(data, size);
	config = config_load(fuzz_path, TRUE, problems);
	if (config == NULL && problems->len == 0)
		abort(); /* refused without saying why */
	if (config != NULL && problems->len > 0)
		abort();
	if (config != NULL)
		(void) config_check_tokens(config, problems);
	for (guint i = 0; i < problems->len; i++) {
		const char *p = problems->pdata[i];

		if (!g_str_has_prefix(p, fuzz_path))
			abort();
		for (; *p != '\0'; p++)
			if (g_ascii_iscntrl(*p))
				abort(); /* one problem, one line */
	}
	return 0;
}
