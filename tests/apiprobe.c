/*
 * apiprobe: drives api.c by hand, so that tests/test-api.py can check every
 * answer class against the OutSmart simulator. Prints one JSON line per
 * request (status, http, code, reason, connections, messages, response).
 * It prints what m2wo would let through, never a token or a URL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m2wo.h"

static const char *probe_status(m2wo_api_status_t status)
{
	switch (status) {
	case M2WO_API_OK: return "OK";
	case M2WO_API_NOT_FOUND: return "NOT_FOUND";
	case M2WO_API_TEMPFAIL: return "TEMPFAIL";
	case M2WO_API_REJECT: return "REJECT";
	}
	return "?";
}

static int probe_exit(m2wo_api_status_t status)
{
	switch (status) {
	case M2WO_API_OK: return 0;
	case M2WO_API_NOT_FOUND: return 1;
	case M2WO_API_REJECT: return 65;
	default: return 75;
	}
}

static void probe_print(m2wo_api_t *api, const m2wo_api_reply_t *reply, gint64 us)
{
	json_object *line = json_object_new_object();
	json_object *messages = json_object_new_array();
	guint i;

	for (i = 0; i < reply->messages->len; i++)
		json_object_array_add(messages,
			json_object_new_string(g_ptr_array_index(reply->messages, i)));
	json_object_object_add(line, "status", json_object_new_string(probe_status(reply->status)));
	json_object_object_add(line, "http", json_object_new_int64(reply->http));
	json_object_object_add(line, "code", json_object_new_int(reply->code));
	json_object_object_add(line, "reason", json_object_new_string(reply->reason));
	json_object_object_add(line, "connections", json_object_new_int64(api_connections(api)));
	json_object_object_add(line, "ms", json_object_new_int64(us / 1000));
	json_object_object_add(line, "messages", messages);
	json_object_object_add(line, "response", json_object_get(reply->response));
	puts(json_object_to_json_string_ext(line,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(line);
}

/* get ENDPOINT [KEY VALUE OP]... */
static m2wo_api_reply_t *probe_get(m2wo_api_t *api, char **argv, int argc)
{
	g_autoptr(GPtrArray) keys = g_ptr_array_new();
	g_autoptr(GPtrArray) values = g_ptr_array_new();
	g_autoptr(GPtrArray) ops = g_ptr_array_new();
	int i;

	for (i = 2; i + 2 < argc; i += 3) {
		g_ptr_array_add(keys, argv[i]);
		g_ptr_array_add(values, argv[i + 1]);
		g_ptr_array_add(ops, argv[i + 2]);
	}
	return api_get(api, argv[1], (const char *const *) keys->pdata,
	               (const char *const *) values->pdata,
	               (const char *const *) ops->pdata, keys->len);
}

/* getp ENDPOINT [KEY VALUE]... */
static m2wo_api_reply_t *probe_getp(m2wo_api_t *api, char **argv, int argc)
{
	g_autoptr(GPtrArray) pairs = g_ptr_array_new();
	int i;

	for (i = 2; i + 1 < argc; i += 2) {
		g_ptr_array_add(pairs, argv[i]);
		g_ptr_array_add(pairs, argv[i + 1]);
	}
	g_ptr_array_add(pairs, NULL);
	return api_get_params(api, argv[1], (const char *const *) pairs->pdata);
}

/* post ENDPOINT JSONFILE */
static m2wo_api_reply_t *probe_post(m2wo_api_t *api, char **argv, int argc)
{
	json_object *body = json_object_from_file(argv[2]);
	m2wo_api_reply_t *reply;

	if (body == NULL) {
		fprintf(stderr, "apiprobe: %s: not JSON\n", argv[2]);
		exit(64);
	}
	reply = api_post(api, argv[1], body);
	json_object_put(body);
	return reply;
}

static m2wo_api_reply_t *probe_one(m2wo_api_t *api, char **argv, int argc)
{
	if (strcmp(argv[0], "get") == 0 && argc >= 2 && (argc - 2) % 3 == 0)
		return probe_get(api, argv, argc);
	if (strcmp(argv[0], "getp") == 0 && argc >= 2 && argc % 2 == 0)
		return probe_getp(api, argv, argc);
	if (strcmp(argv[0], "post") == 0 && argc == 3)
		return probe_post(api, argv, argc);
	fprintf(stderr, "apiprobe: usage: get ENDPOINT [KEY VALUE OP]... | "
	        "getp ENDPOINT [KEY VALUE]... | post ENDPOINT JSONFILE\n");
	exit(64);
}

int main(int argc, char **argv)
{
	m2wo_config_t config = { .request_timeout = M2WO_DEF_REQUEST_TIMEOUT };
	g_autofree char *url = NULL, *token = NULL, *software = NULL;
	g_autofree char *bearer = NULL, *ca = NULL;
	double deadline = 0;
	int repeat = 1, i, status = 0;
	GOptionEntry entries[] = {
		{ "url", 0, 0, G_OPTION_ARG_STRING, &url, "api_url", "URL" },
		{ "token-file", 0, 0, G_OPTION_ARG_FILENAME, &token, "token_file", "FILE" },
		{ "software-token-file", 0, 0, G_OPTION_ARG_FILENAME, &software, "software_token_file", "FILE" },
		{ "bearer-token-file", 0, 0, G_OPTION_ARG_FILENAME, &bearer, "bearer_token_file", "FILE" },
		{ "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca, "ca_file", "FILE" },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &config.request_timeout, "request_timeout", "SECONDS" },
		{ "deadline", 0, 0, G_OPTION_ARG_DOUBLE, &deadline, "run deadline from start", "SECONDS" },
		{ "repeat", 0, 0, G_OPTION_ARG_INT, &repeat, "send the request N times", "N" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL }
	};
	g_autoptr(GOptionContext) context = g_option_context_new("get|getp|post ENDPOINT ...");
	g_autoptr(GError) error = NULL;
	g_autoptr(m2wo_api_t) api = NULL;

	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error) || argc < 3) {
		fprintf(stderr, "apiprobe: %s\n", error ? error->message : "no request");
		return 64;
	}
	config.api_url = url;
	config.token_file = token;
	config.software_token_file = software;
	config.bearer_token_file = bearer;
	config.ca_file = ca;
	api = api_open(&config, &error);
	if (api == NULL) {
		fprintf(stderr, "apiprobe: %s\n", error->message);
		return 78;
	}
	if (deadline > 0)
		api_set_deadline(api, g_get_monotonic_time() + (gint64) (deadline * 1e6));
	for (i = 0; i < repeat; i++) {
		gint64 start = g_get_monotonic_time();
		g_autoptr(m2wo_api_reply_t) reply = probe_one(api, argv + 1, argc - 1);

		probe_print(api, reply, g_get_monotonic_time() - start);
		status = probe_exit(reply->status);
	}
	return status;
}
