/*
 * text.c: finds a message's body text and attachments (SPEC 3.4) by walking
 * the MIME tree itself, and decodes text parts to valid UTF-8 whatever they
 * declare. It must never drop undecodable bytes silently (they become
 * U+FFFD), never stop at a NUL byte, and never walk past
 * M2WO_MAX_MIME_DEPTH or M2WO_MAX_PARTS.
 */
#include <errno.h>
#include <string.h>

#include "m2wo.h"

#define TEXT_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD in UTF-8 */
#define TEXT_NAME_MAX 255               /* bytes of an attachment name */

/* What the body walk found; parts are borrowed from the message. */
typedef struct {
	guint parts;         /* parts visited, against M2WO_MAX_PARTS */
	gboolean messages;   /* descend into attached messages too */
	GMimePart *plain;    /* first text/plain that is not an attachment */
	GMimePart *html;     /* first text/html that is not an attachment */
} text_find_t;

/* ------------------------------------------------------------ decoding */

/* Converts len bytes from charset to UTF-8; every byte the converter
 * refuses becomes U+FFFD. Returns the number of such bytes, or -1 when
 * iconv does not know the charset (out is then untouched). */
static gssize
text_convert(const char *data, gsize len, const char *charset, GString **out)
{
	char buf[4096];
	char *in = (char *) data;
	gsize inleft = len;
	gssize invalid = 0;
	iconv_t cd = g_mime_iconv_open("UTF-8", charset);

	if (cd == (iconv_t) -1)
		return -1;
	*out = g_string_sized_new(len + 16);
	while (inleft > 0) {
		char *outp = buf;
		gsize outleft = sizeof(buf);
		gsize rc = iconv(cd, &in, &inleft, &outp, &outleft);
		int saved = errno;

		g_string_append_len(*out, buf, outp - buf);
		if (rc != (gsize) -1 || saved == E2BIG)
			continue;
		g_string_append(*out, TEXT_REPLACEMENT);
		invalid++;
		if (saved != EILSEQ)
			break; /* EINVAL: a sequence cut off at the end */
		in++;
		inleft--;
	}
	{
		char *outp = buf;
		gsize outleft = sizeof(buf);

		iconv(cd, NULL, NULL, &outp, &outleft);
		g_string_append_len(*out, buf, outp - buf);
	}
	g_mime_iconv_close(cd);
	return invalid;
}

/* Charsets that say nothing about 8-bit bytes: us-ascii, also GMime's
 * default when none is declared. 8-bit text under them is common and must
 * not be lost, so they are decoded like an undeclared charset. */
static gboolean
text_charset_is_ascii(const char *charset)
{
	static const char *const ascii[] = {
		"us-ascii", "ascii", "us_ascii", "ansi_x3.4-1968", "iso646-us",
		"646", "us", "",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(ascii); i++) {
		if (g_ascii_strcasecmp(charset, ascii[i]) == 0)
			return TRUE;
	}
	return FALSE;
}

/* Names of ISO-8859-1 (RFC 1345 and IANA aliases). */
static gboolean
text_charset_is_latin1(const char *charset)
{
	static const char *const latin1[] = {
		"iso-8859-1", "iso_8859-1", "iso8859-1", "latin1", "latin-1",
		"l1", "iso-ir-100", "cp819", "ibm819", "csisolatin1",
		"iso_8859-1:1987",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(latin1); i++) {
		if (g_ascii_strcasecmp(charset, latin1[i]) == 0)
			return TRUE;
	}
	return FALSE;
}

/* The charset to convert with, or NULL for "none worth trusting".
 * ISO-8859-1 is read as its superset windows-1252, as every mail reader
 * does: bytes 0x80-0x9F are curly quotes and the euro sign in practice.
 * UTF-8 aliases come back as "UTF-8". */
static const char *
text_charset(const char *declared)
{
	const char *canon;

	if (declared == NULL)
		return NULL;
	while (*declared == ' ' || *declared == '\t')
		declared++;
	if (text_charset_is_ascii(declared))
		return NULL;
	canon = g_mime_charset_canon_name(declared);
	if (canon == NULL)
		return declared;
	if (text_charset_is_latin1(canon))
		return "windows-1252";
	if (g_ascii_strcasecmp(canon, "utf-8") == 0)
		return "UTF-8";
	return canon;
}

/* Whether the bytes hold at least one well-formed multi-byte UTF-8
 * character. */
static gboolean
text_has_utf8_sequence(const char *data, gsize len)
{
	const char *p = data, *end = data + len;

	while (p < end) {
		const char *bad;

		if (g_utf8_validate_len(p, end - p, &bad))
			bad = end;
		for (const char *q = p; q < bad; q++) {
			if ((guchar) *q >= 0x80)
				return TRUE;
		}
		p = bad + 1;
	}
	return FALSE;
}

/* The PITFALLS recipe: the declared charset when it is real and the bytes
 * fit it; else UTF-8 when they are valid UTF-8; else the declared charset
 * anyway, U+FFFD for what does not fit; else windows-1252, which maps
 * nearly every byte. It is the order of g_mime_utils_decode_8bit() with
 * the fallbacks utf-8 and windows-1252, done here because that function
 * writes '?' for bad bytes where SPEC 3.4 wants U+FFFD. One refinement:
 * "UTF-8" over bytes with not a single UTF-8 character among them is a
 * mislabelled windows-1252 text (web forms do that), not a broken one. */
static GString *
text_decode(const char *data, gsize len, const char *declared)
{
	const char *charset = text_charset(declared);
	GString *out = NULL;
	gssize invalid = -1;

	if (charset != NULL) {
		invalid = text_convert(data, len, charset, &out);
		if (invalid == 0)
			return out;
	}
	if (g_utf8_validate_len(data, len, NULL)) {
		if (out != NULL)
			g_string_free(out, TRUE);
		return g_string_new_len(data, len);
	}
	if (invalid > 0 && (strcmp(charset, "UTF-8") != 0 ||
	                    text_has_utf8_sequence(data, len)))
		return out;
	if (out != NULL)
		g_string_free(out, TRUE);
	if (text_convert(data, len, "windows-1252", &out) >= 0)
		return out;
	return g_string_new_len(data, len); /* made valid by the caller */
}

char *
text_bytes_to_utf8(const char *data, gsize len, const char *charset)
{
	GString *decoded = text_decode(data, len, charset);
	char *valid = g_utf8_make_valid(decoded->str, (gssize)decoded->len);

	g_string_free(decoded, TRUE);
	return valid;
}

/* Line ends become "\n" and NUL bytes U+FFFD, then the whole is made valid
 * UTF-8, so that no later stage can stop early or choke. */
static char *
text_normalise(GString *in)
{
	GString *out = g_string_sized_new(in->len + 1);

	for (gsize i = 0; i < in->len; i++) {
		char c = in->str[i];

		if (c == '\r') {
			if (i + 1 < in->len && in->str[i + 1] == '\n')
				i++;
			g_string_append_c(out, '\n');
		} else if (c == '\0') {
			g_string_append(out, TEXT_REPLACEMENT);
		} else {
			g_string_append_c(out, c);
		}
	}
	g_string_free(in, TRUE);
	if (!g_utf8_validate_len(out->str, out->len, NULL)) {
		char *valid = g_utf8_make_valid(out->str, out->len);

		g_string_free(out, TRUE);
		return valid;
	}
	return g_string_free(out, FALSE);
}

/* The part's content with the transfer encoding undone; never NULL. */
static GBytes *
text_part_bytes(GMimePart *part)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GMimeStream *stream;
	GByteArray *array;

	if (content == NULL)
		return g_bytes_new(NULL, 0);
	stream = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(content, stream);
	array = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	g_object_unref(stream);
	return g_byte_array_free_to_bytes(array);
}

char *
text_part_to_utf8(GMimePart *part)
{
	g_autoptr(GBytes) bytes = text_part_bytes(part);
	const char *charset;
	gsize len;
	const char *data = g_bytes_get_data(bytes, &len);

	charset = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part),
	                                                   "charset");
	return text_normalise(text_decode(data ? data : "", len, charset));
}

/* ---------------------------------------------------------- the walk */

static const char *
text_object_filename(GMimeObject *object)
{
	GMimeContentDisposition *disp;
	const char *name = NULL;

	if (GMIME_IS_PART(object))
		return g_mime_part_get_filename(GMIME_PART(object));
	disp = g_mime_object_get_content_disposition(object);
	if (disp != NULL)
		name = g_mime_content_disposition_get_parameter(disp, "filename");
	if (name == NULL)
		name = g_mime_object_get_content_type_parameter(object, "name");
	return name;
}

/* An attachment for text_attachments: a part that says so or carries a
 * file name (inline images of multipart/related included). */
static gboolean
text_is_attachment(GMimeObject *object)
{
	GMimeContentDisposition *disp;

	disp = g_mime_object_get_content_disposition(object);
	if (disp != NULL && g_mime_content_disposition_is_attachment(disp))
		return TRUE;
	return text_object_filename(object) != NULL;
}

/* Whether a text part may be the body. Disposition attachment never; a
 * file name without a disposition marks an attached file, unless the part
 * is the whole message (old mailers name their only part). */
static gboolean
text_may_be_body(GMimeObject *object, gboolean whole)
{
	GMimeContentDisposition *disp;

	disp = g_mime_object_get_content_disposition(object);
	if (disp != NULL)
		return !g_mime_content_disposition_is_attachment(disp);
	return whole || text_object_filename(object) == NULL;
}

static void text_find_in(GMimeObject *object, guint depth, gboolean whole,
                         text_find_t *find);

static void
text_find_leaf(GMimePart *part, gboolean whole, text_find_t *find)
{
	GMimeContentType *type;

	if (!text_may_be_body(GMIME_OBJECT(part), whole))
		return;
	type = g_mime_object_get_content_type(GMIME_OBJECT(part));
	if (find->plain == NULL &&
	    g_mime_content_type_is_type(type, "text", "plain"))
		find->plain = part;
	else if (find->html == NULL &&
	         g_mime_content_type_is_type(type, "text", "html"))
		find->html = part;
}

/* Depth counts the multiparts and messages around object; whole says that
 * object is a message's top-level part. */
static void
text_find_in(GMimeObject *object, guint depth, gboolean whole,
             text_find_t *find)
{
	if (object == NULL || depth > M2WO_MAX_MIME_DEPTH ||
	    find->parts >= M2WO_MAX_PARTS || (find->plain && find->html))
		return;
	find->parts++;
	if (GMIME_IS_MULTIPART(object)) {
		GMimeMultipart *multipart = GMIME_MULTIPART(object);
		int count = g_mime_multipart_get_count(multipart);

		for (int i = 0; i < count; i++)
			text_find_in(g_mime_multipart_get_part(multipart, i),
			             depth + 1, FALSE, find);
	} else if (GMIME_IS_MESSAGE_PART(object) && find->messages) {
		GMimeMessage *inner =
			g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));

		if (inner != NULL)
			text_find_in(g_mime_message_get_mime_part(inner),
			             depth + 1, TRUE, find);
	} else if (GMIME_IS_PART(object)) {
		text_find_leaf(GMIME_PART(object), whole, find);
	}
}

/* The body text is the message's own text. Only a message with no text of
 * its own (a mail forwarded as an attachment, with nothing written around
 * it; a digest) takes its text from the messages attached to it. */
static void
text_find_body(GMimeMessage *message, text_find_t *find)
{
	GMimeObject *top = g_mime_message_get_mime_part(message);

	*find = (text_find_t) { .messages = FALSE };
	text_find_in(top, 0, TRUE, find);
	if (find->plain != NULL || find->html != NULL)
		return;
	*find = (text_find_t) { .messages = TRUE };
	text_find_in(top, 0, TRUE, find);
}

static gboolean
text_is_blank(const char *text)
{
	for (; *text; text++) {
		if (!g_ascii_isspace(*text))
			return FALSE;
	}
	return TRUE;
}

/* The part the body text comes from, or NULL. When it is the text/plain
 * part, *plain holds its decoded text (new string). An empty text/plain
 * alternative next to real HTML happens: the HTML is then what the sender
 * wrote. */
static GMimePart *
text_choose(GMimeMessage *message, char **plain)
{
	text_find_t find;

	*plain = NULL;
	text_find_body(message, &find);
	if (find.plain != NULL) {
		char *text = text_part_to_utf8(find.plain);

		if (find.html == NULL || !text_is_blank(text)) {
			*plain = text;
			return find.plain;
		}
		g_free(text);
	}
	return find.html;
}

/* Cuts text (valid UTF-8) to at most max bytes on a character boundary. */
static void
text_cap(char *text, gsize max, gboolean *truncated)
{
	gsize len = strlen(text);
	gsize cut = max;

	if (len <= max)
		return;
	while (cut > 0 && ((guchar) text[cut] & 0xC0) == 0x80)
		cut--;
	text[cut] = '\0';
	*truncated = TRUE;
}

char *
text_body(GMimeMessage *message, gboolean *from_html, gboolean *truncated,
          GError **error)
{
	char *text = NULL;
	GMimePart *part = text_choose(message, &text);

	*from_html = FALSE;
	*truncated = FALSE;
	if (part != NULL && text == NULL) {
		g_autofree char *html = text_part_to_utf8(part);

		text = text_from_html(html, strlen(html), error);
		if (text == NULL)
			return NULL;
		*from_html = TRUE;
	}
	if (text == NULL)
		text = g_strdup("");
	/* Trailing blank lines say nothing, and GMime keeps a CR before a
	 * closing boundary at the very end of the input but not elsewhere. */
	g_strchomp(text);
	text_cap(text, M2WO_MAX_TEXT_SIZE, truncated);
	return text;
}

/* ---------------------------------------------------------- attachments */

/* The characters of a name after its last '/' or '\\': control, format
 * (bidi overrides that hide an extension) and line separator characters
 * become '_'; leading dots and spaces go. */
static GString *
text_name_chars(const char *valid)
{
	const char *base = valid;
	GString *out = g_string_new(NULL);

	for (const char *p = valid; *p; p++) {
		if (*p == '/' || *p == '\\')
			base = p + 1;
	}
	for (const char *p = base; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		GUnicodeType type = g_unichar_type(c);

		if (type == G_UNICODE_CONTROL || type == G_UNICODE_FORMAT ||
		    type == G_UNICODE_LINE_SEPARATOR ||
		    type == G_UNICODE_PARAGRAPH_SEPARATOR)
			g_string_append_c(out, '_');
		else if (out->len > 0 || (c != '.' && !g_unichar_isspace(c)))
			g_string_append_unichar(out, c);
	}
	while (out->len > 0 && g_ascii_isspace(out->str[out->len - 1]))
		g_string_truncate(out, out->len - 1);
	return out;
}

/* Cuts a name to TEXT_NAME_MAX bytes on a character boundary, keeping a
 * short extension. */
static void
text_name_cut(GString *name)
{
	const char *ext;
	gsize keep, cut;

	if (name->len <= TEXT_NAME_MAX)
		return;
	ext = strrchr(name->str, '.');
	keep = ext && strlen(ext) <= 16 ? strlen(ext) : 0;
	cut = TEXT_NAME_MAX - keep;
	while (cut > 0 && ((guchar) name->str[cut] & 0xC0) == 0x80)
		cut--;
	if (keep > 0)
		memmove(name->str + cut, ext, keep + 1);
	g_string_truncate(name, cut + keep);
}

/* A plain base name from an untrusted one: valid UTF-8, no directory, no
 * control characters, no leading dots, at most TEXT_NAME_MAX bytes;
 * "attachment-N" when nothing is left. New string. */
static char *
text_safe_filename(const char *name, guint number)
{
	g_autofree char *valid = NULL;
	GString *out;

	if (name == NULL)
		return g_strdup_printf("attachment-%u", number);
	valid = g_utf8_make_valid(name, -1);
	out = text_name_chars(valid);
	text_name_cut(out);
	if (out->len == 0) {
		g_string_free(out, TRUE);
		return g_strdup_printf("attachment-%u", number);
	}
	return g_string_free(out, FALSE);
}

/* The bytes an attachment carries: the decoded content of a part, or the
 * whole attached message as written. */
static GBytes *
text_attachment_bytes(GMimeObject *object)
{
	GMimeMessage *inner;
	GMimeStream *stream;
	GByteArray *array;

	if (GMIME_IS_PART(object))
		return text_part_bytes(GMIME_PART(object));
	inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
	stream = g_mime_stream_mem_new();
	if (inner != NULL)
		g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, stream);
	array = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	g_object_unref(stream);
	return g_byte_array_free_to_bytes(array);
}

typedef struct {
	GMimePart *body;   /* the body text part, not an attachment */
	guint parts;       /* against M2WO_MAX_PARTS */
	guint number;      /* attachments seen, for "attachment-N" */
	guint skipped;
	gsize total;
	gsize max_total;
	GPtrArray *out;
} text_attach_t;

static void
text_take_attachment(GMimeObject *object, text_attach_t *walk)
{
	g_autoptr(GBytes) data = text_attachment_bytes(object);
	gsize size = g_bytes_get_size(data);
	m2wo_attachment_t *att;
	const char *name = text_object_filename(object);

	walk->number++;
	if (size > walk->max_total - walk->total) {
		walk->skipped++;
		return;
	}
	walk->total += size;
	att = g_new0(m2wo_attachment_t, 1);
	if (name == NULL && GMIME_IS_MESSAGE_PART(object))
		att->filename = g_strdup_printf("attachment-%u.eml",
		                                walk->number);
	else
		att->filename = text_safe_filename(name, walk->number);
	att->data = g_steal_pointer(&data);
	g_ptr_array_add(walk->out, att);
}

static void
text_attach_in(GMimeObject *object, guint depth, text_attach_t *walk)
{
	if (object == NULL || depth > M2WO_MAX_MIME_DEPTH ||
	    walk->parts >= M2WO_MAX_PARTS)
		return;
	walk->parts++;
	if (GMIME_IS_MULTIPART(object)) {
		GMimeMultipart *multipart = GMIME_MULTIPART(object);
		int count = g_mime_multipart_get_count(multipart);

		for (int i = 0; i < count; i++)
			text_attach_in(g_mime_multipart_get_part(multipart, i),
			               depth + 1, walk);
	} else if (text_is_attachment(object) &&
	           object != (GMimeObject *) walk->body) {
		text_take_attachment(object, walk);
	} else if (GMIME_IS_MESSAGE_PART(object)) {
		GMimeMessage *inner =
			g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));

		if (inner != NULL)
			text_attach_in(g_mime_message_get_mime_part(inner),
			               depth + 1, walk);
	}
}

guint
text_attachments(GMimeMessage *message, gsize max_total, GPtrArray *out)
{
	text_attach_t walk = { .max_total = max_total, .out = out };
	g_autofree char *plain = NULL;

	walk.body = text_choose(message, &plain);
	text_attach_in(g_mime_message_get_mime_part(message), 0, &walk);
	return walk.skipped;
}

void
attachment_free(m2wo_attachment_t *att)
{
	if (att == NULL)
		return;
	g_free(att->filename);
	g_clear_pointer(&att->data, g_bytes_unref);
	g_free(att);
}
