/*
 * parse.c: turns the raw bytes of one message into an m2wo_msg_t: GMime
 * parses it from memory, the headers m2wo uses are decoded to valid UTF-8,
 * the body text is extracted (text.c) and the message key computed. It
 * measures the header block itself before GMime sees anything, and refuses
 * input that does not start with a header. g_mime_init() is main's job.
 */
#include <string.h>

#include "m2wo.h"

/* Crockford's base32 alphabet: letters and digits, no I, L, O or U, so a
 * work order number read aloud or retyped survives. */
static const char parse_key_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Offset just past a leading mbox "From " line (local(8), procmail), or 0. */
static gsize
parse_skip_mbox_line(const char *data, gsize len)
{
	const char *nl;

	if (len < 5 || memcmp(data, "From ", 5) != 0)
		return 0;
	nl = memchr(data, '\n', len);
	return nl ? (gsize) (nl - data) + 1 : len;
}

/* Whether the text at data starts with "field-name:" (RFC 5322; white
 * space before the colon is the obsolete syntax and still accepted). */
static gboolean
parse_is_header_line(const char *data, gsize len)
{
	gsize i = 0;

	while (i < len && data[i] > ' ' && data[i] < 127 && data[i] != ':')
		i++;
	if (i == 0)
		return FALSE;
	while (i < len && (data[i] == ' ' || data[i] == '\t'))
		i++;
	return i < len && data[i] == ':';
}

/* Length of the header block from start: up to the first empty line, or
 * everything. Stops looking once the limit is passed, so a huge message
 * costs no more than the limit. */
static gsize
parse_header_length(const char *data, gsize len, gsize start, gsize limit)
{
	gsize pos = start;

	while (pos < len && pos - start <= limit) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		gsize line_end = nl ? (gsize) (nl - data) : len;

		if (line_end == pos || (line_end == pos + 1 && data[pos] == '\r'))
			return pos - start;
		pos = line_end + 1;
	}
	return MIN(len, pos) - start;
}

static gboolean
parse_check_header(const char *data, gsize len, GError **error)
{
	gsize start = parse_skip_mbox_line(data, len);

	if (!parse_is_header_line(data + start, len - start)) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_BAD_INPUT,
		            "message has no headers");
		return FALSE;
	}
	if (parse_header_length(data, len, start, M2WO_MAX_HEADER_SIZE) >
	    M2WO_MAX_HEADER_SIZE) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_TOO_LARGE,
		            "header block larger than %d bytes",
		            M2WO_MAX_HEADER_SIZE);
		return FALSE;
	}
	return TRUE;
}

/*
 * GMime builds the whole MIME tree before text.c walks it, at over a
 * kilobyte a part: 25 MB of empty parts take it gigabytes and minutes, and
 * nested boundaries cost time that grows faster than their number. The
 * walk stops at M2WO_MAX_PARTS, which it reaches within 2 * M2WO_MAX_PARTS
 * + 1 delimiter lines; GMime gets the message up to many more lines that
 * start with "--" than that (room for such lines in the parts' text), and
 * never the parts no walk would reach.
 */
#define PARSE_MAX_DASH_LINES (20 * M2WO_MAX_PARTS)

/* How much of the message GMime parses: all of it, or up to the line
 * after the body's (from offset body) PARSE_MAX_DASH_LINES lines that
 * start with "--". */
static gsize
parse_mime_length(const char *data, gsize len, gsize body)
{
	guint dash_lines = 0;
	gsize pos = body;

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		gsize next = nl ? (gsize) (nl - data) + 1 : len;

		if (next - pos >= 2 && data[pos] == '-' && data[pos + 1] == '-' &&
		    ++dash_lines > PARSE_MAX_DASH_LINES)
			return pos;
		pos = next;
	}
	return len;
}

/* Frees the array header that wraps raw's bytes, never the bytes. */
static void
parse_free_wrapper(gpointer array)
{
	g_byte_array_free(array, FALSE);
}

/*
 * A memory stream over the first len bytes of raw without copying them
 * (g_mime_stream_mem_new_with_buffer would): the stream does not own the
 * array, which only wraps raw's bytes, and keeps raw alive itself, since
 * GMime's parser (persist mode, the default) leaves every part's content
 * as a substream of it for as long as the message lives. Nothing writes
 * to the stream.
 */
static GMimeStream *
parse_stream(GBytes *raw, const char *data, gsize len)
{
	GByteArray *array = g_byte_array_new_take((guint8 *) data, len);
	GMimeStream *stream = g_mime_stream_mem_new_with_byte_array(array);

	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	g_object_set_data_full(G_OBJECT(stream), "m2wo-wrapper", array,
	                       parse_free_wrapper);
	g_object_set_data_full(G_OBJECT(stream), "m2wo-raw", g_bytes_ref(raw),
	                       (GDestroyNotify) g_bytes_unref);
	return stream;
}

/* GMime from memory; GMIME_FORMAT_MESSAGE skips the mbox line itself.
 * Unencoded 8-bit header text is read as UTF-8, else windows-1252. */
static GMimeMessage *
parse_mime(GBytes *raw, const char *data, gsize len)
{
	static const char *fallback[] = { "utf-8", "windows-1252", NULL };
	GMimeParserOptions *options = g_mime_parser_options_new();
	GMimeStream *stream = parse_stream(raw, data, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *message;

	g_mime_parser_options_set_fallback_charsets(options, fallback);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	message = g_mime_parser_construct_message(parser, options);
	g_object_unref(parser);
	g_object_unref(stream);
	g_mime_parser_options_free(options);
	return message;
}

/* A decoded header value fit for every later stage: valid UTF-8, folding
 * undone, trimmed. NULL stays NULL. */
static char *
parse_clean(const char *value)
{
	GString *out;
	char *valid;

	if (value == NULL)
		return NULL;
	valid = g_utf8_make_valid(value, -1);
	out = g_string_sized_new(strlen(valid));
	for (const char *p = valid; *p; p++) {
		if (*p != '\r' && *p != '\n')
			g_string_append_c(out, *p);
	}
	g_free(valid);
	return g_strstrip(g_string_free(out, FALSE));
}

/* The first mailbox of a list, looking inside groups; borrowed. */
static InternetAddressMailbox *
parse_first_mailbox(InternetAddressList *list)
{
	int count = list ? internet_address_list_length(list) : 0;

	for (int i = 0; i < count; i++) {
		InternetAddress *addr = internet_address_list_get_address(list, i);
		InternetAddressMailbox *found = NULL;

		if (INTERNET_ADDRESS_IS_MAILBOX(addr))
			return INTERNET_ADDRESS_MAILBOX(addr);
		if (INTERNET_ADDRESS_IS_GROUP(addr))
			found = parse_first_mailbox(internet_address_group_get_members(
				INTERNET_ADDRESS_GROUP(addr)));
		if (found != NULL)
			return found;
	}
	return NULL;
}

/* "From: Jan Jansen jan@example.com" (no angle brackets) defeats the
 * address parser; the first word with an @ is the address then, and the
 * words before it the name. */
static void
parse_salvage_from(m2wo_msg_t *msg)
{
	g_autofree char *value = parse_clean(
		g_mime_object_get_header(GMIME_OBJECT(msg->mime), "From"));
	g_auto(GStrv) words = NULL;
	GString *name = g_string_new(NULL);

	words = g_strsplit_set(value ? value : "", " \t", -1);
	for (char **w = words; *w; w++) {
		if (strchr(*w, '@') != NULL) {
			g_free(msg->from_address);
			msg->from_address = g_strdup(g_strstrip(g_strdelimit(
				*w, "<>()\"',;", ' ')));
			g_free(msg->from_name);
			msg->from_name = g_strdup(g_strstrip(name->str));
			break;
		}
		g_string_append_printf(name, "%s ", *w);
	}
	g_string_free(name, TRUE);
}

static void
parse_addresses(m2wo_msg_t *msg)
{
	InternetAddressMailbox *from, *reply;

	from = parse_first_mailbox(g_mime_message_get_from(msg->mime));
	reply = parse_first_mailbox(g_mime_message_get_reply_to(msg->mime));
	msg->from_address = parse_clean(from ?
		internet_address_mailbox_get_addr(from) : "");
	msg->from_name = parse_clean(from ?
		internet_address_get_name(INTERNET_ADDRESS(from)) : NULL);
	if (msg->from_name == NULL)
		msg->from_name = g_strdup("");
	if (msg->from_address[0] == '\0')
		parse_salvage_from(msg);
	if (reply != NULL)
		msg->reply_to = parse_clean(internet_address_mailbox_get_addr(reply));
	if (msg->reply_to != NULL && msg->reply_to[0] == '\0')
		g_clear_pointer(&msg->reply_to, g_free);
}

/* Postfix's queue ID in a Received header it wrote: "by HOST (Postfix)
 * with ESMTP id 4BVK12" or "by HOST (Postfix, from userid 0) id 4BVK12".
 * Used for the topmost one only, which the MTA that delivered the message
 * writes, so that a sender cannot choose it; local(8), procmail and
 * maildrop pass no queue ID to m2wo. NULL when it is not there. */
/* The end of the first " by HOST (Postfix...)" in text, or NULL. */
static const char *
parse_postfix_by(const char *text)
{
	for (const char *by = strstr(text, " by "); by != NULL;
	     by = strstr(by, " by ")) {
		by += 4;
		while (*by == ' ')
			by++;
		by += strcspn(by, " ");
		if (g_str_has_prefix(by, " (Postfix"))
			return strchr(by, ')');
	}
	return NULL;
}

static char *
parse_queue_id(GMimeHeader *received)
{
	g_autofree char *value = NULL;
	const char *end, *id;
	gsize len;

	if (received == NULL)
		return NULL;
	value = g_strconcat(" ", g_mime_header_get_raw_value(received), NULL);
	for (char *p = value; *p != '\0'; p++) {
		if (g_ascii_isspace(*p))
			*p = ' ';
	}
	end = parse_postfix_by(value);
	id = end != NULL ? strstr(end, " id ") : NULL;
	if (id == NULL || memchr(end, ';', (gsize) (id - end)) != NULL)
		return NULL;
	id += 4;
	while (*id == ' ')
		id++;
	len = strspn(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "abcdefghijklmnopqrstuvwxyz");
	if (len == 0 || len > 32 || (id[len] != '\0' && id[len] != ' ' &&
	                             id[len] != ';'))
		return NULL;
	return g_strndup(id, len);
}

static void
parse_headers(m2wo_msg_t *msg)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(
		GMIME_OBJECT(msg->mime));
	GMimeHeader *subject = g_mime_header_list_get_header(list, "Subject");

	/* header.c rather than g_mime_message_get_subject(): GMime 3.2.13
	 * loses the words after a padded base64 encoded word. */
	msg->subject = header_decode(subject != NULL ?
		g_mime_header_get_raw_value(subject) : NULL);
	msg->message_id = parse_clean(g_mime_message_get_message_id(msg->mime));
	if (msg->message_id != NULL && msg->message_id[0] == '\0')
		g_clear_pointer(&msg->message_id, g_free);
	msg->queue_id = parse_queue_id(g_mime_header_list_get_header(list,
	                                                             "Received"));
	parse_addresses(msg);
}

/* Adds a labelled field to the hash; white space runs count as one space,
 * so that refolding by a relay does not change the key. */
static void
parse_key_field(GChecksum *sum, const char *label, const char *value)
{
	g_autofree char *copy = g_strdup(value ? value : "");
	gboolean space = FALSE;
	GString *norm = g_string_new(NULL);

	for (char *p = g_strstrip(copy); *p; p++) {
		if (g_ascii_isspace(*p)) {
			space = TRUE;
			continue;
		}
		if (space)
			g_string_append_c(norm, ' ');
		space = FALSE;
		g_string_append_c(norm, *p);
	}
	g_checksum_update(sum, (const guchar *) label, strlen(label) + 1);
	g_checksum_update(sum, (const guchar *) norm->str, norm->len + 1);
	g_string_free(norm, TRUE);
}

/* message_key (SPEC 3.6): from the Message-ID alone when there is one,
 * else from From, Date, Subject and the body. Headers that relays add
 * (Received, Return-Path, Delivered-To, X-Original-To) never enter it. */
static void
parse_message_key(m2wo_msg_t *msg)
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);

	if (msg->message_id != NULL) {
		parse_key_field(sum, "message-id", msg->message_id);
	} else {
		parse_key_field(sum, "from", msg->from_address);
		parse_key_field(sum, "date",
		                g_mime_object_get_header(GMIME_OBJECT(msg->mime),
		                                         "Date"));
		parse_key_field(sum, "subject", msg->subject);
		parse_key_field(sum, "body", msg->body);
	}
	msg_key_digest(sum, msg->message_key);
}

void
msg_key_digest(GChecksum *sum, char key[M2WO_MESSAGE_KEY_LEN + 1])
{
	guint8 digest[32];
	gsize digest_len = sizeof(digest);
	guint64 bits = 0;

	g_checksum_get_digest(sum, digest, &digest_len);
	/* 12 characters of 5 bits: the first 60 bits of the digest. */
	for (int i = 0; i < 8; i++)
		bits = (bits << 8) | digest[i];
	for (int i = 0; i < M2WO_MESSAGE_KEY_LEN; i++)
		key[i] = parse_key_alphabet[(bits >> (59 - 5 * i)) & 31];
	key[M2WO_MESSAGE_KEY_LEN] = '\0';
}

m2wo_msg_t *
msg_parse(GBytes *raw, GError **error)
{
	gsize len = 0;
	const char *data = g_bytes_get_data(raw, &len);
	GMimeMessage *mime;
	m2wo_msg_t *msg;
	gsize body;

	if (data == NULL)
		data = "";
	if (!parse_check_header(data, len, error))
		return NULL;
	body = parse_skip_mbox_line(data, len);
	body += parse_header_length(data, len, body, M2WO_MAX_HEADER_SIZE);
	mime = parse_mime(raw, data, parse_mime_length(data, len, body));
	if (mime == NULL) {
		g_set_error(error, M2WO_ERROR, M2WO_ERROR_BAD_INPUT,
		            "message has no headers");
		return NULL;
	}
	msg = g_new0(m2wo_msg_t, 1);
	msg->raw = g_bytes_ref(raw);
	msg->mime = mime;
	parse_headers(msg);
	msg->body = text_body(mime, &msg->body_from_html, &msg->body_truncated,
	                      error);
	if (msg->body == NULL) {
		msg_free(msg);
		return NULL;
	}
	parse_message_key(msg);
	return msg;
}

void
msg_free(m2wo_msg_t *msg)
{
	if (msg == NULL)
		return;
	g_clear_pointer(&msg->raw, g_bytes_unref);
	g_clear_object(&msg->mime);
	g_free(msg->subject);
	g_free(msg->from_address);
	g_free(msg->from_name);
	g_free(msg->reply_to);
	g_free(msg->message_id);
	g_free(msg->queue_id);
	g_free(msg->body);
	g_free(msg);
}
