/*
 * api.c: the one place that talks HTTP. One libcurl handle per run sends
 * every OutSmart request over one kept-alive TLS connection and sorts each
 * answer into ok / not found / tempfail / reject (outsmart-api.md).
 * It must never let a token, a URL with its query, curl's error text or a
 * response body reach anything a user or a bounce can see.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <curl/curl.h>

#include "m2wo.h"

#ifdef PACKAGE_VERSION
#define API_USER_AGENT "m2wo/" PACKAGE_VERSION
#else
#define API_USER_AGENT "m2wo"
#endif

struct m2wo_api {
	CURL *curl;
	char *base_url;          /* api_url without trailing slashes */
	char *token;
	char *software_token;
	struct curl_slist *get_headers;
	struct curl_slist *post_headers;
	long request_timeout_ms;
	gint64 deadline_us;      /* monotonic; 0 when none */
	GString *body;           /* the answer being received */
	gboolean body_overflow;  /* the answer went past M2WO_MAX_API_RESPONSE */
	gboolean deadline_cut;   /* this request's timeout is the deadline's */
	const char *upload;      /* the POST body being sent, or NULL */
	size_t upload_len;
	size_t upload_off;
	m2wo_wo_text_t *upload_text; /* the work order being sent, or NULL */
	long connections;
};

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CURLU, curl_url_cleanup)

/* Tokens are wiped before their memory goes back to the allocator. */
static void api_secret_free(char *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	g_free(secret);
}

static void api_global_init(void)
{
	static gsize done;

	/* curl_global_init is not reentrant and is called once per process;
	 * curl_global_cleanup is left to process exit, since a --drop run opens
	 * and frees clients as it goes. */
	if (g_once_init_enter(&done)) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		g_once_init_leave(&done, 1);
	}
}

static size_t api_write_cb(char *data, size_t size, size_t nmemb, void *user)
{
	m2wo_api_t *api = user;
	size_t n = size * nmemb;

	/* Returning less than n makes curl abort with CURLE_WRITE_ERROR. */
	if (api->body->len + n > M2WO_MAX_API_RESPONSE) {
		api->body_overflow = TRUE;
		return 0;
	}
	g_string_append_len(api->body, data, (gssize) n);
	return n;
}

/*
 * Whether the system CAs can come from libcurl's hashed CA folder alone.
 * libcurl's default is the CA bundle *and* that folder: OpenSSL then parses
 * all ~150 certificates of the bundle on every run (about 50 ms of CPU and
 * 1 MB with OpenSSL 3, more than the rest of a run), while the folder is
 * searched only for the issuer the server names. On Debian the folder
 * holds every certificate of the bundle (update-ca-certificates writes
 * both), so the CAs trusted stay the same; no CA is ever added. Only with
 * OpenSSL, whose folder look-up is lazy, and only when the folder exists.
 */
static gboolean api_system_ca_path(void)
{
#if LIBCURL_VERSION_NUM >= 0x074600
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	return v != NULL && v->age >= CURLVERSION_SEVENTH && v->capath != NULL
	       && v->ssl_version != NULL && g_str_has_prefix(v->ssl_version, "OpenSSL/")
	       && g_file_test(v->capath, G_FILE_TEST_IS_DIR);
#else
	return FALSE;
#endif
}

/* Options that hold for every request of the run. */
static gboolean api_setup_handle(m2wo_api_t *api, const m2wo_config_t *config)
{
	CURL *c = api->curl;
	gboolean ok = TRUE;

#if LIBCURL_VERSION_NUM >= 0x075500
	ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK;
#else
	ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long) CURLPROTO_HTTPS) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long) CURLPROTO_HTTPS) == CURLE_OK;
#endif
	/* A redirect would carry the tokens in its query somewhere else. */
	ok &= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2) == CURLE_OK;
	/* ca_file replaces the system CAs (libcurl would keep its CA folder
	 * beside it): the administrator named the one CA to trust. */
	if (config->ca_file != NULL && *config->ca_file != '\0') {
		ok &= curl_easy_setopt(c, CURLOPT_CAINFO, config->ca_file) == CURLE_OK;
		ok &= curl_easy_setopt(c, CURLOPT_CAPATH, NULL) == CURLE_OK;
	} else if (api_system_ca_path()) {
		ok &= curl_easy_setopt(c, CURLOPT_CAINFO, NULL) == CURLE_OK;
	}
	/* No signals: m2wo may run threads in GLib, and SIGALRM-based DNS
	 * timeouts would interrupt them. */
	ok &= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_USERAGENT, API_USER_AGENT) == CURLE_OK;
	/* Without a write function curl prints the body on standard output,
	 * which Postfix puts into the bounce. */
	ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, api_write_cb) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEDATA, api) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
	return ok;
}

static struct curl_slist *api_headers(const char *bearer, gboolean post)
{
	struct curl_slist *list = NULL;

	list = curl_slist_append(list, "Accept: application/json");
	if (post) {
		list = curl_slist_append(list, "Content-Type: application/json");
		/* Large work orders would otherwise wait for "100 Continue". */
		list = curl_slist_append(list, "Expect:");
	}
	if (bearer != NULL) {
		g_autofree char *line = g_strconcat("Authorization: Bearer ", bearer, NULL);

		list = curl_slist_append(list, line);
		explicit_bzero(line, strlen(line));
	}
	return list;
}

static gboolean api_read_tokens(m2wo_api_t *api, const m2wo_config_t *config,
                                char **bearer, GError **error)
{
	api->token = config_read_token(config->token_file, error);
	if (api->token == NULL)
		return FALSE;
	api->software_token = config_read_token(config->software_token_file, error);
	if (api->software_token == NULL)
		return FALSE;
	if (config->bearer_token_file != NULL && *config->bearer_token_file != '\0') {
		*bearer = config_read_token(config->bearer_token_file, error);
		if (*bearer == NULL)
			return FALSE;
	}
	return TRUE;
}

m2wo_api_t *api_open(const m2wo_config_t *config, GError **error)
{
	g_autoptr(m2wo_api_t) api = g_new0(m2wo_api_t, 1);
	char *bearer = NULL;
	gsize len;

	if (config->token_file == NULL || config->software_token_file == NULL) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_CONFIG,
		            "token_file and software_token_file are required");
		return NULL;
	}
	if (!api_read_tokens(api, config, &bearer, error)) {
		api_secret_free(bearer);
		return NULL;
	}
	api->get_headers = api_headers(bearer, FALSE);
	api->post_headers = api_headers(bearer, TRUE);
	api_secret_free(bearer);

	api->base_url = g_strdup(config->api_url ? config->api_url : M2WO_DEF_API_URL);
	len = strlen(api->base_url);
	while (len > 0 && api->base_url[len - 1] == '/')
		api->base_url[--len] = '\0';
	api->request_timeout_ms = 1000L * (config->request_timeout > 0
		? config->request_timeout : M2WO_DEF_REQUEST_TIMEOUT);
	api->body = g_string_sized_new(4096);

	api_global_init();
	api->curl = curl_easy_init();
	if (api->curl == NULL || api->get_headers == NULL || api->post_headers == NULL
	    || !api_setup_handle(api, config)) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_INTERNAL,
		            "cannot set up the HTTP client");
		return NULL;
	}
	return g_steal_pointer(&api);
}

void api_free(m2wo_api_t *api)
{
	if (api == NULL)
		return;
	if (api->curl != NULL)
		curl_easy_cleanup(api->curl);
	curl_slist_free_all(api->get_headers);
	curl_slist_free_all(api->post_headers);
	api_secret_free(api->token);
	api_secret_free(api->software_token);
	g_free(api->base_url);
	if (api->body != NULL)
		g_string_free(api->body, TRUE);
	g_free(api);
}

void api_set_deadline(m2wo_api_t *api, gint64 deadline_us)
{
	api->deadline_us = deadline_us;
}

long api_connections(m2wo_api_t *api)
{
	return api->connections;
}

void api_reply_free(m2wo_api_reply_t *reply)
{
	if (reply == NULL)
		return;
	if (reply->response != NULL)
		json_object_put(reply->response);
	if (reply->messages != NULL)
		g_ptr_array_unref(reply->messages);
	g_free(reply);
}

static m2wo_api_reply_t *api_reply_new(void)
{
	m2wo_api_reply_t *reply = g_new0(m2wo_api_reply_t, 1);

	reply->messages = g_ptr_array_new_with_free_func(g_free);
	reply->status = M2WO_API_TEMPFAIL;
	reply->reason = "OutSmart API error";
	return reply;
}

/* ------------------------------------------------------------ the URL */

static gboolean api_query_add(CURLU *u, const char *key, const char *value)
{
	g_autofree char *pair = g_strconcat(key, "=", value ? value : "", NULL);
	CURLUcode rc;

	/* APPENDQUERY + URLENCODE escapes everything after the first '=', and
	 * the key's brackets, so values from a message cannot add parameters. */
	rc = curl_url_set(u, CURLUPART_QUERY, pair, CURLU_APPENDQUERY | CURLU_URLENCODE);
	explicit_bzero(pair, strlen(pair));
	return rc == CURLUE_OK;
}

/* Builds BASE/ENDPOINT/?token=..&software_token=.. and returns the handle
 * with which the caller appends its own parameters. */
static CURLU *api_url_new(m2wo_api_t *api, const char *endpoint)
{
	g_autoptr(CURLU) u = curl_url();
	g_autofree char *full = g_strconcat(api->base_url, "/", endpoint, "/", NULL);

	if (u == NULL || strchr(endpoint, '/') != NULL || strchr(endpoint, '?') != NULL)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, full, 0) != CURLUE_OK)
		return NULL;
	if (!api_query_add(u, "token", api->token)
	    || !api_query_add(u, "software_token", api->software_token))
		return NULL;
	return g_steal_pointer(&u);
}

/* ---------------------------------------------------- one exchange */

/* A fixed text per transport failure: curl's own text holds the URL. */
static const char *api_curl_reason(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return "OutSmart API unreachable";
	case CURLE_OPERATION_TIMEDOUT:
		return "OutSmart API timed out";
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
		return "OutSmart API TLS failure";
	case CURLE_SEND_ERROR:
	case CURLE_SEND_FAIL_REWIND:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return "OutSmart API connection lost";
	default:
		return "OutSmart API error";
	}
}

/* Time for the next request: request_timeout, cut to what the deadline
 * leaves. Returns 0 when the deadline has passed. */
static long api_time_left_ms(m2wo_api_t *api)
{
	gint64 left_ms;

	if (api->deadline_us == 0)
		return api->request_timeout_ms;
	left_ms = (api->deadline_us - g_get_monotonic_time()) / 1000;
	if (left_ms <= 0)
		return 0;
	return MIN(api->request_timeout_ms, (long) left_ms);
}

static const char *api_code_reason(int code)
{
	switch (code) {
	case 1004:
	case 1005:
		return "OutSmart API refused the tokens";
	case 1007:
		return "OutSmart API internal error";
	case 1008:
	case 1009:
		return "OutSmart API refused the request body";
	default:
		return "OutSmart API configuration error";
	}
}

static void api_fill_messages(m2wo_api_reply_t *reply, json_object *messages)
{
	size_t i, n;

	if (messages == NULL || !json_object_is_type(messages, json_type_array))
		return;
	n = json_object_array_length(messages);
	for (i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(messages, i);

		if (json_object_is_type(m, json_type_string))
			g_ptr_array_add(reply->messages, g_strdup(json_object_get_string(m)));
	}
}

/* Parses the whole body as one JSON value; NULL when it is not exactly
 * that (trailing white space allowed). */
static json_object *api_parse_body(const GString *body)
{
	json_tokener *tok = json_tokener_new();
	json_object *obj;
	size_t end;

	if (tok == NULL)
		return NULL;
	obj = json_tokener_parse_ex(tok, body->str, (int) body->len);
	end = json_tokener_get_parse_end(tok);
	if (json_tokener_get_error(tok) != json_tokener_success)
		g_clear_pointer(&obj, json_object_put);
	json_tokener_free(tok);
	for (; obj != NULL && end < body->len; end++)
		if (!g_ascii_isspace(body->str[end]))
			g_clear_pointer(&obj, json_object_put);
	return obj;
}

/* Sorts an HTTP 200 answer by its envelope code. */
static void api_classify_envelope(m2wo_api_reply_t *reply, const GString *body)
{
	json_object *envelope = api_parse_body(body);
	json_object *code = NULL;

	if (envelope == NULL || !json_object_is_type(envelope, json_type_object)
	    || !json_object_object_get_ex(envelope, "code", &code)
	    || !json_object_is_type(code, json_type_int)) {
		reply->reason = "OutSmart API answered garbage";
		if (envelope != NULL)
			json_object_put(envelope);
		return;
	}
	reply->code = json_object_get_int(code);
	reply->response = json_object_get(json_object_object_get(envelope, "response"));
	api_fill_messages(reply, json_object_object_get(envelope, "messages"));
	json_object_put(envelope);

	if (reply->code == 200) {
		reply->status = M2WO_API_OK;
		reply->reason = "OutSmart API ok";
	} else if (reply->code == 1500) {
		reply->status = M2WO_API_NOT_FOUND;
		reply->reason = "OutSmart API: not found";
	} else if (reply->code >= 1000 && reply->code <= 1009) {
		reply->status = M2WO_API_TEMPFAIL;
		reply->reason = api_code_reason(reply->code);
	} else {
		g_autofree char *text = g_strdup_printf("OutSmart API refused: code %d", reply->code);

		reply->status = M2WO_API_REJECT;
		reply->reason = g_intern_string(text);  /* lives as long as the process */
	}
}

static void api_classify(m2wo_api_t *api, m2wo_api_reply_t *reply, CURLcode rc)
{
	if (rc != CURLE_OK) {
		reply->status = M2WO_API_TEMPFAIL;
		reply->reason = api_curl_reason(rc);
		if (api->body_overflow)
			reply->reason = "OutSmart API answer too large";
		else if (rc == CURLE_OPERATION_TIMEDOUT && api->deadline_cut)
			reply->reason = "m2wo deadline exceeded";
		return;
	}
	if (reply->http != 200) {
		g_autofree char *text = g_strdup_printf("OutSmart API HTTP %03ld", reply->http);

		/* Anything but 200 comes from in front of the service (a proxy, a
		 * load balancer, a redirect): the request may pass later. */
		reply->status = M2WO_API_TEMPFAIL;
		reply->reason = g_intern_string(text);
		return;
	}
	api_classify_envelope(reply, api->body);
}

/* Sends the request the handle is set up for and sorts the answer. */
static m2wo_api_reply_t *api_perform(m2wo_api_t *api, CURLU *u, gboolean post)
{
	m2wo_api_reply_t *reply = api_reply_new();
	long time_ms = api_time_left_ms(api), connects = 0;
	char *url = NULL;
	CURLcode rc;

	if (time_ms == 0) {
		reply->reason = "m2wo deadline exceeded";
		return reply;
	}
	if (u == NULL || curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
		return reply;   /* "OutSmart API error": a bad api_url or endpoint */
	curl_easy_setopt(api->curl, CURLOPT_URL, url);
	explicit_bzero(url, strlen(url));
	curl_free(url);
	curl_easy_setopt(api->curl, CURLOPT_HTTPHEADER,
	                 post ? api->post_headers : api->get_headers);
	/* A timeout shorter than request_timeout is the deadline's. */
	api->deadline_cut = time_ms < api->request_timeout_ms;
	curl_easy_setopt(api->curl, CURLOPT_TIMEOUT_MS, time_ms);
	curl_easy_setopt(api->curl, CURLOPT_CONNECTTIMEOUT_MS, time_ms);
	g_string_truncate(api->body, 0);
	api->body_overflow = FALSE;

	rc = curl_easy_perform(api->curl);
	curl_easy_getinfo(api->curl, CURLINFO_RESPONSE_CODE, &reply->http);
	if (curl_easy_getinfo(api->curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK)
		api->connections += connects;
	api_classify(api, reply, rc);
	g_string_truncate(api->body, 0);
	return reply;
}

m2wo_api_reply_t *api_get(m2wo_api_t *api, const char *endpoint,
                          const char *const *keys, const char *const *values,
                          const char *const *ops, guint n)
{
	g_autoptr(CURLU) u = api_url_new(api, endpoint);
	guint i;

	for (i = 0; u != NULL && i < n; i++) {
		if (!api_query_add(u, "key[]", keys[i])
		    || !api_query_add(u, "value[]", values[i])
		    || !api_query_add(u, "operator[]", ops[i]))
			g_clear_pointer(&u, curl_url_cleanup);
	}
	curl_easy_setopt(api->curl, CURLOPT_HTTPGET, 1L);
	return api_perform(api, u, FALSE);
}

m2wo_api_reply_t *api_get_params(m2wo_api_t *api, const char *endpoint,
                                 const char *const *pairs)
{
	g_autoptr(CURLU) u = api_url_new(api, endpoint);
	guint i;

	for (i = 0; u != NULL && pairs != NULL && pairs[i] != NULL; i += 2) {
		if (!api_query_add(u, pairs[i], pairs[i + 1]))
			g_clear_pointer(&u, curl_url_cleanup);
	}
	curl_easy_setopt(api->curl, CURLOPT_HTTPGET, 1L);
	return api_perform(api, u, FALSE);
}

/*
 * Feeds the POST body to curl. There is deliberately no seek callback:
 * when a reused connection dies without an answer, libcurl would rewind and
 * send the request again on a new connection, and a PostWorkorders that
 * OutSmart did receive would create a second work order. Without a way to
 * rewind, curl fails with CURLE_SEND_FAIL_REWIND instead: a tempfail, after
 * which the MTA's retry finds the work order through dedupe.
 */
static size_t api_read_cb(char *buf, size_t size, size_t n, void *userp)
{
	m2wo_api_t *api = userp;
	size_t want = size * n, left;

	if (api->upload_text != NULL)
		return workorder_text_read(api->upload_text, buf, want);
	left = api->upload_len - api->upload_off;
	if (want > left)
		want = left;
	memcpy(buf, api->upload + api->upload_off, want);
	api->upload_off += want;
	return want;
}

/* Sends the body api->upload or api->upload_text sets up, len bytes. */
static m2wo_api_reply_t *api_post_body(m2wo_api_t *api, const char *endpoint,
                                       size_t len)
{
	g_autoptr(CURLU) u = api_url_new(api, endpoint);
	m2wo_api_reply_t *reply;

	curl_easy_setopt(api->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(api->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(api->curl, CURLOPT_READFUNCTION, api_read_cb);
	curl_easy_setopt(api->curl, CURLOPT_READDATA, api);
	curl_easy_setopt(api->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
	reply = api_perform(api, u, TRUE);
	api->upload = NULL;
	api->upload_text = NULL;
	return reply;
}

m2wo_api_reply_t *api_post(m2wo_api_t *api, const char *endpoint,
                           json_object *body)
{
	size_t len = 0;

	/* The text belongs to body, which outlives the transfer. */
	api->upload = json_object_to_json_string_length(body,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	api->upload_len = len;
	api->upload_off = 0;
	return api_post_body(api, endpoint, len);
}

/* A work order of tens of megabytes is encoded as curl sends it, rather
 * than held as one more copy of its JSON. */
m2wo_api_reply_t *api_post_text(m2wo_api_t *api, const char *endpoint,
                                m2wo_wo_text_t *text)
{
	api->upload_text = text;
	return api_post_body(api, endpoint, workorder_text_length(text));
}
