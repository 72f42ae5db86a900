/*
 * drop.c: WorkOrder Drop (m2wo --drop PATH...). Each message of the given
 * files, folders and Maildirs goes through the same pipeline as pipe mode,
 * with one API connection for the whole run. It never moves or deletes the
 * files it reads: replaying a message is always safe thanks to dedupe.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "m2wo.h"

#define DROP_PROGRESS_MIN 20	/* show progress from this many messages */
#define DROP_MAX_DEPTH 16	/* folder levels below a PATH */

static gint
drop_compare(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void drop_collect(GPtrArray *files, const char *path, guint depth);

/* Adds the messages below dir in name order: with suffix only the files
 * ending in it, and then subfolders too (Maildirs and folders of .eml). */
static void
drop_add_dir(GPtrArray *files, const char *dir, const char *suffix,
             guint depth)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *name;
	guint i;

	if (d == NULL)
		return;
	while ((name = g_dir_read_name(d)) != NULL)
		if (name[0] != '.')
			g_ptr_array_add(names, g_build_filename(dir, name, NULL));
	g_ptr_array_sort(names, drop_compare);
	for (i = 0; i < names->len; i++) {
		const char *path = names->pdata[i];

		if (g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
			if (suffix == NULL || g_str_has_suffix(path, suffix))
				g_ptr_array_add(files, g_strdup(path));
		} else if (suffix != NULL &&
		    g_file_test(path, G_FILE_TEST_IS_DIR)) {
			drop_collect(files, path, depth + 1);
		}
	}
}

/* A Maildir is a folder with cur/ and new/ (tmp/ is never read: those
 * messages are still being written); any other folder gives its .eml files
 * and its subfolders, DROP_MAX_DEPTH deep at most. */
static void
drop_collect(GPtrArray *files, const char *path, guint depth)
{
	g_autofree char *cur = g_build_filename(path, "cur", NULL);
	g_autofree char *new = g_build_filename(path, "new", NULL);

	if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
		if (depth == 0)
			g_ptr_array_add(files, g_strdup(path));
		return;
	}
	if (depth > DROP_MAX_DEPTH)
		return;
	if (g_file_test(cur, G_FILE_TEST_IS_DIR) &&
	    g_file_test(new, G_FILE_TEST_IS_DIR)) {
		drop_add_dir(files, new, NULL, depth);
		drop_add_dir(files, cur, NULL, depth);
		return;
	}
	drop_add_dir(files, path, ".eml", depth);
}

/* One message: read, strip quarantine headers, run. */
static int
drop_one(m2wo_run_t *run, const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) raw = NULL, plain = NULL;

	run->source = path;
	g_date_time_unref(run->now);
	run->now = g_date_time_new_now_local();
	run->started_us = g_get_monotonic_time();
	run->deadline_us = run->started_us +
	    (gint64)run->config->deadline * G_USEC_PER_SEC;
	raw = input_read_file(path, run->config->max_message_size, &error);
	if (raw == NULL) {
		outcome_from_error(run, error);
		return outcome_exit_code(run->outcome);
	}
	plain = quarantine_strip(raw);
	return pipeline_run(run, plain);
}

static void
drop_print(m2wo_run_t *run, const char *path)
{
	if (run->explain != NULL) {
		fputs(run->explain->str, stdout);
		g_string_truncate(run->explain, 0);
		if (run->dry_run && run->workorder != NULL) {
			g_autofree char *json =
			    workorder_to_json(run->workorder, TRUE);
			printf("%s\n", json);
		}
	}
	printf("%s\t%s\t%s\t%s\n", path, outcome_to_string(run->outcome),
	    run->conf != NULL ? run->conf->name : "-",
	    run->workorder_no != NULL && (run->outcome ==
	    M2WO_OUTCOME_CREATED || run->outcome == M2WO_OUTCOME_DUPLICATE) ?
	    run->workorder_no : "-");
	fflush(stdout);
}

static void
drop_summary(const guint *counts, guint total, gint64 started_us)
{
	double secs = (double)(g_get_monotonic_time() - started_us) /
	    G_USEC_PER_SEC;
	int o;

	fprintf(stderr, "m2wo: %u messages in %.1f s\n", total, secs);
	for (o = M2WO_OUTCOME_CREATED; o <= M2WO_OUTCOME_TOO_LARGE; o++)
		if (counts[o] > 0)
			fprintf(stderr, "  %-20s %u\n",
			    outcome_to_string((m2wo_outcome_t)o), counts[o]);
}

int
drop_run(m2wo_run_t *run, char **paths)
{
	g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
	guint counts[M2WO_OUTCOME_TOO_LARGE + 1] = { 0 };
	gboolean progress = isatty(STDERR_FILENO);
	gint64 started = g_get_monotonic_time();
	int worst = EX_OK;
	guint i;

	for (i = 0; paths[i] != NULL; i++)
		drop_collect(files, paths[i], 0);
	progress = progress && files->len >= DROP_PROGRESS_MIN;
	for (i = 0; i < files->len; i++) {
		const char *path = files->pdata[i];
		int code = drop_one(run, path);

		if (!run->dry_run)
			audit_write(run, code);
		drop_print(run, path);
		counts[run->outcome]++;
		if (code == EX_TEMPFAIL)
			worst = EX_TEMPFAIL;
		else if (code != EX_OK && worst == EX_OK)
			worst = EX_DATAERR;
		if (progress)
			fprintf(stderr, "\r%u/%u", i + 1, files->len);
	}
	if (progress)
		fputc('\n', stderr);
	drop_summary(counts, files->len, started);
	return worst;
}
