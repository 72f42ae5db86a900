/*
 * test-text: unit tests of the input, parse, text and html stages: reading
 * with a size cap, header decoding, charsets, transfer encodings, the body
 * text choice, HTML to text, the message key, limits and attachments.
 * Every message is built inline here.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "m2wo.h"

#define HEAD "From: Jan <jan@example.com>\nSubject: test\nMIME-Version: 1.0\n"
#define U_FFFD "\xEF\xBF\xBD"

/* ------------------------------------------------------------ helpers */

static m2wo_msg_t *
parse_len(const char *raw, gsize len, GError **error)
{
	g_autoptr(GBytes) bytes = g_bytes_new(raw, len);

	return msg_parse(bytes, error);
}

static m2wo_msg_t *
parse_ok(const char *raw, gsize len)
{
	g_autoptr(GError) error = NULL;
	m2wo_msg_t *msg = parse_len(raw, len, &error);

	g_assert_no_error(error);
	g_assert_nonnull(msg);
	g_assert_true(g_utf8_validate(msg->subject, -1, NULL));
	g_assert_true(g_utf8_validate(msg->from_name, -1, NULL));
	g_assert_true(g_utf8_validate(msg->body, -1, NULL));
	return msg;
}

static m2wo_msg_t *
parse_str(const char *raw)
{
	return parse_ok(raw, strlen(raw));
}

/* --------------------------------------------------------- body cases */

/* One message (headers after HEAD, then a blank line, then the body) and
 * the body text m2wo must extract. */
typedef struct {
	const char *name;
	const char *headers;
	const char *body;
	gsize body_len;          /* 0: strlen(body) */
	const char *want;
	gboolean from_html;
} body_case_t;

static const body_case_t body_cases[] = {
	/* charsets */
	{ "charset/utf-8", "Content-Type: text/plain; charset=utf-8\n",
	  "Gr\xC3\xBC\xC3\x9F" "e", 0, "Gr\xC3\xBC\xC3\x9F" "e", FALSE },
	{ "charset/iso-8859-1", "Content-Type: text/plain; charset=iso-8859-1\n",
	  "Gr\xFC\xDF" "e", 0, "Gr\xC3\xBC\xC3\x9F" "e", FALSE },
	{ "charset/latin1-alias", "Content-Type: text/plain; charset=\"latin1\"\n",
	  "caf\xE9 \x80", 0, "caf\xC3\xA9 \xE2\x82\xAC", FALSE },
	{ "charset/utf8-alias", "Content-Type: text/plain; charset=utf8\n",
	  "caf\xC3\xA9 \xFF", 0, "caf\xC3\xA9 " U_FFFD, FALSE },
	{ "charset/windows-1252", "Content-Type: text/plain; charset=windows-1252\n",
	  "\x80 5, \x93quoted\x94 \x91single\x92", 0,
	  "\xE2\x82\xAC 5, \xE2\x80\x9Cquoted\xE2\x80\x9D "
	  "\xE2\x80\x98single\xE2\x80\x99", FALSE },
	{ "charset/iso-8859-1-is-windows-1252",
	  "Content-Type: text/plain; charset=ISO-8859-1\n",
	  "\x80 10", 0, "\xE2\x82\xAC 10", FALSE },
	{ "charset/iso-8859-15", "Content-Type: text/plain; charset=iso-8859-15\n",
	  "\xA4 7", 0, "\xE2\x82\xAC 7", FALSE },
	{ "charset/koi8-r", "Content-Type: text/plain; charset=koi8-r\n",
	  "\xF0\xD2\xC9\xD7\xC5\xD4", 0,
	  "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82", FALSE },
	{ "charset/us-ascii-with-utf-8", "Content-Type: text/plain; charset=us-ascii\n",
	  "na\xC3\xAFve", 0, "na\xC3\xAFve", FALSE },
	{ "charset/us-ascii-with-latin1", "Content-Type: text/plain; charset=us-ascii\n",
	  "na\xEFve \x80", 0, "na\xC3\xAFve \xE2\x82\xAC", FALSE },
	{ "charset/none-with-utf-8", "",
	  "\xE2\x82\xAC 3", 0, "\xE2\x82\xAC 3", FALSE },
	{ "charset/none-with-latin1", "",
	  "\xE9t\xE9", 0, "\xC3\xA9t\xC3\xA9", FALSE },
	{ "charset/unknown-with-utf-8", "Content-Type: text/plain; charset=x-foo\n",
	  "\xC3\xA9t\xC3\xA9", 0, "\xC3\xA9t\xC3\xA9", FALSE },
	{ "charset/unknown-with-latin1", "Content-Type: text/plain; charset=x-foo\n",
	  "\xE9t\xE9", 0, "\xC3\xA9t\xC3\xA9", FALSE },
	{ "charset/utf-8-invalid", "Content-Type: text/plain; charset=utf-8\n",
	  "a\xFF" "b \xC3\xA9 \xC3", 0, "a" U_FFFD "b \xC3\xA9 " U_FFFD, FALSE },
	{ "charset/utf-8-declared-over-latin1",
	  "Content-Type: text/plain; charset=UTF-8\n",
	  "Stra\xDF" "e 5, K\xF6ln", 0, "Stra\xC3\x9F" "e 5, K\xC3\xB6ln", FALSE },
	{ "charset/windows-1252-undefined",
	  "Content-Type: text/plain; charset=windows-1252\n",
	  "a\x81" "b", 0, "a" U_FFFD "b", FALSE },
	{ "charset/utf-16le-base64",
	  "Content-Type: text/plain; charset=utf-16le\n"
	  "Content-Transfer-Encoding: base64\n",
	  "aABpAKwgCgA=\n", 0, "hi\xE2\x82\xAC", FALSE },
	/* transfer encodings */
	{ "encoding/quoted-printable",
	  "Content-Type: text/plain; charset=utf-8\n"
	  "Content-Transfer-Encoding: quoted-printable\n",
	  "K=C3=B6ln =E2=82=AC=3D5, a long line that goes =\non and on\n", 0,
	  "K\xC3\xB6ln \xE2\x82\xAC=5, a long line that goes on and on", FALSE },
	{ "encoding/quoted-printable-latin1",
	  "Content-Type: text/plain; charset=iso-8859-1\n"
	  "Content-Transfer-Encoding: quoted-printable\n",
	  "M=FCller\n", 0, "M\xC3\xBCller", FALSE },
	{ "encoding/base64",
	  "Content-Type: text/plain; charset=utf-8\n"
	  "Content-Transfer-Encoding: base64\n",
	  "U3RvcmluZyBiaWogZGUgYnVyZW4K\n", 0, "Storing bij de buren", FALSE },
	{ "encoding/base64-garbage",
	  "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n",
	  "!!!\xFF\xFE not base64 at all ###\n", 0, NULL, FALSE },
	/* line ends and NUL bytes */
	{ "crlf/normalised", "", "one\r\ntwo\rthree\nfour\r\n", 0,
	  "one\ntwo\nthree\nfour", FALSE },
	{ "crlf/closing-boundary-at-end",
	  "Content-Type: multipart/mixed; boundary=1\r\n",
	  "--1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--1--", 0,
	  "hello", FALSE },
	{ "nul/kept-and-replaced", "Content-Type: text/plain; charset=utf-8\n",
	  "before\0after\0", 13, "before" U_FFFD "after" U_FFFD, FALSE },
	/* which part is the body */
	{ "choice/alternative-picks-plain",
	  "Content-Type: multipart/alternative; boundary=b\n",
	  "--b\nContent-Type: text/plain\n\nplain text\n"
	  "--b\nContent-Type: text/html\n\n<p>html text</p>\n--b--\n", 0,
	  "plain text", FALSE },
	{ "choice/plain-after-html",
	  "Content-Type: multipart/alternative; boundary=b\n",
	  "--b\nContent-Type: text/html\n\n<p>html text</p>\n"
	  "--b\nContent-Type: text/plain\n\nplain text\n--b--\n", 0,
	  "plain text", FALSE },
	{ "choice/blank-plain-uses-html",
	  "Content-Type: multipart/alternative; boundary=b\n",
	  "--b\nContent-Type: text/plain\n\n \n"
	  "--b\nContent-Type: text/html\n\n<p>html text</p>\n--b--\n", 0,
	  "html text", TRUE },
	{ "choice/nested-related",
	  "Content-Type: multipart/mixed; boundary=m\n",
	  "--m\nContent-Type: multipart/alternative; boundary=a\n\n"
	  "--a\nContent-Type: text/plain; charset=utf-8\n\ninner \xC3\xA9\n"
	  "--a\nContent-Type: text/html\n\n<b>x</b>\n--a--\n"
	  "--m\nContent-Type: image/png; name=x.png\n"
	  "Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--m--\n", 0,
	  "inner \xC3\xA9", FALSE },
	{ "choice/attached-text-is-not-body",
	  "Content-Type: multipart/mixed; boundary=m\n",
	  "--m\nContent-Type: text/plain\nContent-Disposition: attachment\n\n"
	  "attached\n--m\nContent-Type: text/html\n\n<p>own</p>\n--m--\n", 0,
	  "own", TRUE },
	{ "choice/named-text-is-not-body",
	  "Content-Type: multipart/mixed; boundary=m\n",
	  "--m\nContent-Type: image/gif; name=a.gif\n\nGIF89a\n"
	  "--m\nContent-Type: text/plain; name=notes.txt\n\nnotes\n--m--\n", 0,
	  "", FALSE },
	{ "choice/named-whole-message-is-body",
	  "Content-Type: text/plain; name=\"/tmp/whoa\"\n",
	  "the text\n", 0, "the text", FALSE },
	{ "choice/own-text-before-attached-message",
	  "Content-Type: multipart/mixed; boundary=m\n",
	  "--m\nContent-Type: message/rfc822\n\n"
	  "Subject: inner\n\ninner text\n"
	  "--m\nContent-Type: text/plain\n\nouter text\n--m--\n", 0,
	  "outer text", FALSE },
	{ "choice/forwarded-as-attachment",
	  "Content-Type: multipart/mixed; boundary=m\n",
	  "--m\nContent-Type: message/rfc822\n"
	  "Content-Disposition: attachment; filename=fwd.eml\n\n"
	  "Subject: inner\nContent-Type: text/plain; charset=iso-8859-1\n\n"
	  "inner t\xE9xt\n--m--\n", 0, "inner t\xC3\xA9xt", FALSE },
	{ "choice/no-text-at-all",
	  "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n",
	  "JVBERi0xLjQK\n", 0, "", FALSE },
	/* HTML-only messages */
	{ "html/entities-and-breaks", "Content-Type: text/html; charset=utf-8\n",
	  "<html><head><title>T</title><style>p{color:red}</style></head>"
	  "<body><script>alert('x')</script><p>Caf&eacute; &amp; bar&nbsp;&lt;3"
	  "</p><p>line one<br>line two</p></body></html>", 0,
	  "Caf\xC3\xA9 & bar <3\n\nline one\nline two", TRUE },
	{ "html/latin1-declared", "Content-Type: text/html; charset=iso-8859-1\n",
	  "<meta charset=\"utf-8\"><p>M\xFCller &euro;</p>", 0,
	  "M\xC3\xBCller \xE2\x82\xAC", TRUE },
};

static void
test_body_case(gconstpointer data)
{
	const body_case_t *c = data;
	gsize body_len = c->body_len ? c->body_len : strlen(c->body);
	g_autoptr(GString) raw = g_string_new(HEAD);
	g_autoptr(m2wo_msg_t) msg = NULL;

	g_string_append(raw, c->headers);
	g_string_append_c(raw, '\n');
	g_string_append_len(raw, c->body, body_len);
	msg = parse_ok(raw->str, raw->len);
	if (c->want != NULL)
		g_assert_cmpstr(msg->body, ==, c->want);
	g_assert_cmpint(msg->body_from_html, ==, c->from_html);
	g_assert_false(msg->body_truncated);
}

/* -------------------------------------------------------- HTML to text */

typedef struct {
	const char *name;
	const char *html;
	const char *want;
} html_case_t;

static const html_case_t html_cases[] = {
	{ "empty", "", "" },
	{ "plain-words", "just   some\n\twords", "just some words" },
	{ "paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo" },
	{ "br", "a<br>b<br/>c", "a\nb\nc" },
	{ "br-twice-is-blank-line", "a<br><br><br><br>b", "a\n\nb" },
	{ "div-lines", "<div>a</div><div>b</div>", "a\nb" },
	{ "list", "<p>Items:</p><ul><li>one</li><li>two <b>bold</b></li></ul>",
	  "Items:\n\n- one\n- two bold" },
	{ "ordered-list", "<ol><li>x<li>y</ol>", "- x\n- y" },
	{ "headings", "<h1>Title</h1>text", "Title\n\ntext" },
	{ "table", "<table><tr><td>a</td><td>b</td></tr>"
	  "<tr><td>c</td><td>d</td></tr></table>after", "a b\nc d\n\nafter" },
	{ "entities", "&lt;tag&gt; &amp; &quot;q&quot; &#8364; &#x263A; &eacute;",
	  "<tag> & \"q\" \xE2\x82\xAC \xE2\x98\xBA \xC3\xA9" },
	{ "unknown-entity", "a &bogus; b", "a &bogus; b" },
	{ "script-style-dropped",
	  "<script>var x = 1;</script>a<style>.c{}</style>b<noscript>n</noscript>",
	  "ab" },
	{ "head-dropped", "<html><head><title>T</title></head><body>body</body>",
	  "body" },
	{ "comment-dropped", "a<!-- hidden -->b", "ab" },
	{ "pre-kept", "<p>x</p><pre>  a   b\n  c</pre><p>y</p>",
	  "x\n\n  a   b\n  c\n\ny" },
	{ "blockquote", "said:<blockquote>quoted</blockquote>end",
	  "said:\n\nquoted\n\nend" },
	{ "hr", "a<hr>b", "a\n\nb" },
	{ "nbsp-collapses", "a&nbsp;&nbsp; b", "a b" },
	{ "trimmed", "  <p>  x  </p>  ", "x" },
	{ "broken-markup", "<p>unclosed <b>bold <i>both</p><div>next", "unclosed bold both\n\nnext" },
	{ "no-network", "<!DOCTYPE html SYSTEM \"http://127.0.0.1:9/x.dtd\">"
	  "<img src=\"http://127.0.0.1:9/x.png\">ok", "ok" },
};

static void
test_html_case(gconstpointer data)
{
	const html_case_t *c = data;
	g_autoptr(GError) error = NULL;
	g_autofree char *got = text_from_html(c->html, strlen(c->html), &error);

	g_assert_no_error(error);
	g_assert_cmpstr(got, ==, c->want);
}

static void
test_html_deep(void)
{
	g_autoptr(GString) html = g_string_new(NULL);
	g_autofree char *got = NULL;

	for (int i = 0; i < 5000; i++)
		g_string_append(html, "<div><span>");
	g_string_append(html, "deep");
	got = text_from_html(html->str, html->len, NULL);
	g_assert_nonnull(got);
	g_assert_true(g_utf8_validate(got, -1, NULL));
}

/* Whether this process has a file whose name contains part mapped. */
static gboolean
maps_contain(const char *part)
{
	g_autofree char *maps = NULL;

	g_assert_true(g_file_get_contents("/proc/self/maps", &maps, NULL, NULL));
	return strstr(maps, part) != NULL;
}

/* libxml2 is not linked: a fresh process maps it only for an HTML body,
 * and a library that cannot be loaded is an error, not an empty text. */
static void
test_html_loaded_on_demand(void)
{
	if (g_test_subprocess()) {
		g_autoptr(GError) error = NULL;
		g_autofree char *got = NULL;

		g_assert_false(maps_contain("libxml2"));
		g_assert_false(html_library_open("libm2wo-absent.so.0", &error));
		g_assert_error(error, M2WO_ERROR, M2WO_ERROR_INTERNAL);
		g_assert_nonnull(strstr(error->message, "libm2wo-absent.so.0"));
		g_assert_false(maps_contain("libxml2"));
		got = text_from_html("<p>ok</p>", 9, NULL);
		g_assert_cmpstr(got, ==, "ok");
		g_assert_true(maps_contain("libxml2"));
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
}

/* ------------------------------------------------------------ headers */

typedef struct {
	const char *name;
	const char *headers;
	const char *subject;
	const char *from;
	const char *from_name;
	const char *reply_to;
	const char *message_id;
} header_case_t;

static const header_case_t header_cases[] = {
	{ "plain", "From: Jan Jansen <jan@example.com>\nSubject: Lekkage\n"
	  "Message-ID: <abc@example.com>\n",
	  "Lekkage", "jan@example.com", "Jan Jansen", NULL, "abc@example.com" },
	{ "absent", "To: x@example.com\n", "", "", "", NULL, NULL },
	{ "rfc2047-q", "From: =?iso-8859-1?Q?J=F6rg_M=FCller?= <j@example.com>\n"
	  "Subject: =?iso-8859-1?Q?Storing_verwarming_=E9=E9n?=\n",
	  "Storing verwarming \xC3\xA9\xC3\xA9n", "j@example.com",
	  "J\xC3\xB6rg M\xC3\xBCller", NULL, NULL },
	{ "rfc2047-b-joined", "From: j@example.com\n"
	  "Subject: =?utf-8?B?R3LDvMOfZQ==?=\n =?utf-8?Q?_aus_K=C3=B6ln?=\n",
	  "Gr\xC3\xBC\xC3\x9F" "e aus K\xC3\xB6ln", "j@example.com", "", NULL,
	  NULL },
	{ "folded", "From: j@example.com\nSubject: a long\n\tfolded subject\n",
	  "a long\tfolded subject", "j@example.com", "", NULL, NULL },
	{ "raw-8bit-utf-8", "From: \"Ren\xC3\xA9\" <r@example.com>\n"
	  "Subject: caf\xC3\xA9\n",
	  "caf\xC3\xA9", "r@example.com", "Ren\xC3\xA9", NULL, NULL },
	{ "raw-8bit-latin1", "From: Ren\xE9 <r@example.com>\nSubject: caf\xE9\n",
	  "caf\xC3\xA9", "r@example.com", "Ren\xC3\xA9", NULL, NULL },
	{ "reply-to", "From: noreply@example.com\n"
	  "Reply-To: Klant <klant@example.org>\n",
	  "", "noreply@example.com", "", "klant@example.org", NULL },
	{ "group-from", "From: Team: a@example.com, b@example.com;\n",
	  "", "a@example.com", "", NULL, NULL },
	{ "from-without-brackets", "From: Big Bug bb@bug.example\n",
	  "", "bb@bug.example", "Big Bug", NULL, NULL },
	{ "from-null-path", "From: MAILER-DAEMON <>\n",
	  "", "", "", NULL, NULL },
	{ "message-id-brackets", "From: a@example.com\n"
	  "Message-Id:   <x.y@z>  \n", "", "a@example.com", "", NULL, "x.y@z" },
};

static void
test_header_case(gconstpointer data)
{
	const header_case_t *c = data;
	g_autofree char *raw = g_strconcat(c->headers, "\nbody\n", NULL);
	g_autoptr(m2wo_msg_t) msg = parse_str(raw);

	g_assert_cmpstr(msg->subject, ==, c->subject);
	g_assert_cmpstr(msg->from_address, ==, c->from);
	g_assert_cmpstr(msg->from_name, ==, c->from_name);
	g_assert_cmpstr(msg->reply_to, ==, c->reply_to);
	g_assert_cmpstr(msg->message_id, ==, c->message_id);
}

/* Invalid UTF-8 inside an encoded word must still give valid UTF-8 and
 * keep the readable rest. */
static void
test_header_invalid_encoded_word(void)
{
	g_autoptr(m2wo_msg_t) msg = parse_str(
		"From: =?utf-8?B?SmFu/yBK?= <j@example.com>\n"
		"Subject: =?utf-8?Q?Fr=C3=B6sch=FF=FEe?= ok\n\nbody\n");

	g_assert_true(g_str_has_prefix(msg->subject, "Fr\xC3\xB6sch"));
	g_assert_true(g_str_has_suffix(msg->subject, "e ok"));
	g_assert_true(g_str_has_prefix(msg->from_name, "Jan"));
	g_assert_cmpstr(msg->from_address, ==, "j@example.com");
}

static void
test_mbox_from_line(void)
{
	g_autoptr(m2wo_msg_t) msg = parse_str(
		"From jan@example.com Mon Jan  1 00:00:00 2024\n"
		"From: jan@example.com\nSubject: via local\n\nbody text\n");

	g_assert_cmpstr(msg->subject, ==, "via local");
	g_assert_cmpstr(msg->from_address, ==, "jan@example.com");
	g_assert_cmpstr(msg->body, ==, "body text");
}

static void
test_headers_only(void)
{
	g_autoptr(m2wo_msg_t) msg = parse_str("From: a@example.com\nSubject: s");

	g_assert_cmpstr(msg->subject, ==, "s");
	g_assert_cmpstr(msg->body, ==, "");
}

/* ------------------------------------------------------- queue ID */

typedef struct {
	const char *name;
	const char *headers;
	const char *want;        /* NULL: none */
} queue_case_t;

static const queue_case_t queue_cases[] = {
	{ "smtpd", "Received: from mx.example.net (mx.example.net "
	  "[192.0.2.7])\n\tby mail.example.nl (Postfix) with ESMTPS id "
	  "4BVK12QZ7Xz1\n\tfor <storing@example.nl>; Thu, 3 Dec 2026 "
	  "10:00:00 +0100\n", "4BVK12QZ7Xz1" },
	{ "pickup", "Received: by mail.example.nl (Postfix, from userid 0)\n"
	  "\tid 3F1A2B; Thu, 3 Dec 2026 10:00:00 +0100\n", "3F1A2B" },
	{ "helo-by", "Received: from by (unknown [192.0.2.7]) by mx.example.nl "
	  "(Postfix) with SMTP id 7C0FFE; Thu, 3 Dec 2026\n", "7C0FFE" },
	/* Only the topmost header counts: the lower ones are the sender's. */
	{ "not-topmost", "Received: from mx (mx [192.0.2.7]) by mail.example.nl "
	  "(Exim 4.96) with esmtp id 1abc-000Z; Thu\nReceived: by evil "
	  "(Postfix) id FORGED; Thu\n", NULL },
	{ "other-mta", "Received: from a by mail.example.nl (8.17.1/8.17.1) "
	  "with ESMTP id 4BVK12; Thu\n", NULL },
	{ "id-after-date", "Received: by mail.example.nl (Postfix); Thu, 3 Dec "
	  "2026 id 4BVK12\n", NULL },
	{ "odd-id", "Received: by mail.example.nl (Postfix) id 4BV-K12; Thu\n",
	  NULL },
	{ "none", "X-Mailer: test\n", NULL },
};

static void
test_queue_case(gconstpointer data)
{
	const queue_case_t *c = data;
	g_autofree char *raw = g_strconcat(c->headers, "From: a@example.com\n"
	                                   "Subject: s\n\nbody\n", NULL);
	g_autoptr(m2wo_msg_t) msg = parse_str(raw);

	g_assert_cmpstr(msg->queue_id, ==, c->want);
}

/* ------------------------------------------------------- bad input */

typedef struct {
	const char *name;
	const char *raw;
	gsize len;
	int code;
} bad_case_t;

static const bad_case_t bad_cases[] = {
	{ "empty", "", 0, M2WO_ERROR_BAD_INPUT },
	{ "blank-line-first", "\nFrom: a@example.com\n\nbody\n", 0,
	  M2WO_ERROR_BAD_INPUT },
	{ "plain-text", "Hello, this is not a mail.\nSecond line.\n", 0,
	  M2WO_ERROR_BAD_INPUT },
	{ "mbox-line-only", "From jan@example.com Mon Jan  1 00:00:00 2024\n", 0,
	  M2WO_ERROR_BAD_INPUT },
	{ "binary", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, M2WO_ERROR_BAD_INPUT },
	{ "nul-first", "\0From: a@example.com\n\nx", 23, M2WO_ERROR_BAD_INPUT },
	{ "colon-first", ": value\n\nbody", 0, M2WO_ERROR_BAD_INPUT },
	{ "space-first", " Subject: x\n\nbody", 0, M2WO_ERROR_BAD_INPUT },
};

static void
test_bad_case(gconstpointer data)
{
	const bad_case_t *c = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(m2wo_msg_t) msg =
		parse_len(c->raw, c->len ? c->len : strlen(c->raw), &error);

	g_assert_null(msg);
	g_assert_error(error, M2WO_ERROR, c->code);
}

static void
test_header_too_large(void)
{
	g_autoptr(GString) raw = g_string_new("From: a@example.com\n");
	g_autoptr(GError) error = NULL;
	g_autoptr(m2wo_msg_t) msg = NULL;

	while (raw->len <= M2WO_MAX_HEADER_SIZE)
		g_string_append(raw, "X-Filler: 0123456789012345678901234567890123"
		                "456789012345678901234567890123456789\n");
	g_string_append(raw, "\nbody\n");
	msg = parse_len(raw->str, raw->len, &error);
	g_assert_null(msg);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_TOO_LARGE);
}

/* One long folded header just under the limit passes; a large body with
 * small headers is never "too large" here. */
static void
test_header_under_limit(void)
{
	g_autoptr(GString) raw = g_string_new("From: a@example.com\nX-Long: x");
	g_autoptr(m2wo_msg_t) msg = NULL;

	while (raw->len < M2WO_MAX_HEADER_SIZE - 200)
		g_string_append(raw, "\n aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	g_string_append(raw, "\n\n");
	while (raw->len < 3 * M2WO_MAX_HEADER_SIZE)
		g_string_append(raw, "body line\n");
	msg = parse_ok(raw->str, raw->len);
	g_assert_true(g_str_has_prefix(msg->body, "body line\nbody line"));
}

/* ------------------------------------------------------------ limits */

static char *
nested_message(int levels, const char *inner)
{
	GString *raw = g_string_new("From: a@example.com\nSubject: deep\n");

	for (int i = 0; i < levels; i++)
		g_string_append_printf(raw, "Content-Type: multipart/mixed; "
		                       "boundary=b%d\n\n--b%d\n", i, i);
	g_string_append_printf(raw, "Content-Type: text/plain\n\n%s\n", inner);
	for (int i = levels - 1; i >= 0; i--)
		g_string_append_printf(raw, "--b%d--\n", i);
	return g_string_free(raw, FALSE);
}

typedef struct {
	const char *name;
	int levels;
	const char *want;
} depth_case_t;

static const depth_case_t depth_cases[] = {
	{ "10", 10, "found" },
	{ "at-limit", M2WO_MAX_MIME_DEPTH, "found" },
	{ "past-limit", M2WO_MAX_MIME_DEPTH + 1, "" },
	{ "100", 100, "" },
	{ "2000", 2000, "" },
};

static void
test_depth_case(gconstpointer data)
{
	const depth_case_t *c = data;
	g_autofree char *raw = nested_message(c->levels, "found");
	g_autoptr(m2wo_msg_t) msg = parse_str(raw);

	g_assert_cmpstr(msg->body, ==, c->want);
}

static void
test_parts_cap(void)
{
	g_autoptr(GString) raw = g_string_new(
		"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n");
	g_autoptr(m2wo_msg_t) msg = NULL;

	for (int i = 0; i < M2WO_MAX_PARTS + 10; i++)
		g_string_append(raw, "--b\nContent-Type: image/gif\n\nGIF\n");
	g_string_append(raw, "--b\nContent-Type: text/plain\n\nlate text\n--b--\n");
	msg = parse_ok(raw->str, raw->len);
	g_assert_cmpstr(msg->body, ==, "");
}

static void
test_text_cap(void)
{
	g_autoptr(GString) raw = g_string_new(HEAD
		"Content-Type: text/plain; charset=utf-8\n\nx");
	g_autoptr(m2wo_msg_t) msg = NULL;

	/* Three-byte characters, so the cap falls inside one of them. */
	while (raw->len < M2WO_MAX_TEXT_SIZE + 4096)
		g_string_append(raw, "\xE2\x82\xAC");
	msg = parse_ok(raw->str, raw->len);
	g_assert_true(msg->body_truncated);
	g_assert_cmpuint(strlen(msg->body), <=, M2WO_MAX_TEXT_SIZE);
	g_assert_cmpuint(strlen(msg->body), >, M2WO_MAX_TEXT_SIZE - 4);
}

/* ------------------------------------------------------- message key */

#define KEY_MSG "From: Jan <jan@example.com>\n" \
	"Date: Mon, 1 Jan 2024 10:00:00 +0100\nSubject: Lekkage\n\n" \
	"De kraan lekt.\n"

static void
test_key_format(void)
{
	g_autoptr(m2wo_msg_t) msg = parse_str(KEY_MSG);
	g_autoptr(GRegex) re = g_regex_new("^[A-Z0-9]{12}$", 0, 0, NULL);

	g_assert_true(g_regex_match(re, msg->message_key, 0, NULL));
}

typedef struct {
	const char *name;
	const char *a;
	const char *b;
	gboolean same;
} key_case_t;

static const key_case_t key_cases[] = {
	{ "stable", KEY_MSG, KEY_MSG, TRUE },
	{ "mta-headers-ignored", KEY_MSG,
	  "Return-Path: <jan@example.com>\nDelivered-To: wo@example.net\n"
	  "X-Original-To: wo@example.net\n"
	  "Received: from mx.example.com by mx.example.net; Mon, 1 Jan 2024\n"
	  KEY_MSG, TRUE },
	{ "mbox-line-ignored", KEY_MSG,
	  "From jan@example.com Mon Jan  1 10:00:00 2024\n" KEY_MSG, TRUE },
	{ "crlf-ignored", KEY_MSG,
	  "From: Jan <jan@example.com>\r\n"
	  "Date: Mon, 1 Jan 2024 10:00:00 +0100\r\nSubject: Lekkage\r\n\r\n"
	  "De kraan lekt.\r\n", TRUE },
	{ "body-counts", KEY_MSG,
	  "From: Jan <jan@example.com>\n"
	  "Date: Mon, 1 Jan 2024 10:00:00 +0100\nSubject: Lekkage\n\n"
	  "De kraan lekt niet meer.\n", FALSE },
	{ "date-counts", KEY_MSG,
	  "From: Jan <jan@example.com>\n"
	  "Date: Mon, 1 Jan 2024 10:00:01 +0100\nSubject: Lekkage\n\n"
	  "De kraan lekt.\n", FALSE },
	{ "subject-counts", KEY_MSG,
	  "From: Jan <jan@example.com>\n"
	  "Date: Mon, 1 Jan 2024 10:00:00 +0100\nSubject: Lekkage 2\n\n"
	  "De kraan lekt.\n", FALSE },
	{ "message-id-alone", "Message-ID: <k1@example.com>\n" KEY_MSG,
	  "Message-ID: <k1@example.com>\nFrom: other@example.org\n\nother\n",
	  TRUE },
	{ "message-id-differs", "Message-ID: <k1@example.com>\n" KEY_MSG,
	  "Message-ID: <k2@example.com>\n" KEY_MSG, FALSE },
};

static void
test_key_case(gconstpointer data)
{
	const key_case_t *c = data;
	g_autoptr(m2wo_msg_t) a = parse_str(c->a);
	g_autoptr(m2wo_msg_t) b = parse_str(c->b);

	if (c->same)
		g_assert_cmpstr(a->message_key, ==, b->message_key);
	else
		g_assert_cmpstr(a->message_key, !=, b->message_key);
}

/* ------------------------------------------------------- attachments */

typedef struct {
	const char *name;
	const char *part_headers;
	const char *want;
} name_case_t;

static const name_case_t name_cases[] = {
	{ "plain", "Content-Disposition: attachment; filename=\"report.pdf\"\n",
	  "report.pdf" },
	{ "unix-path", "Content-Disposition: attachment; "
	  "filename=\"../../etc/passwd\"\n", "passwd" },
	{ "windows-path", "Content-Disposition: attachment; "
	  "filename=\"C:\\\\Users\\\\x\\\\foto.jpg\"\n", "foto.jpg" },
	{ "hidden", "Content-Disposition: attachment; filename=\"..bashrc\"\n",
	  "bashrc" },
	{ "control-chars", "Content-Disposition: attachment; "
	  "filename*=utf-8''a%0Ab%07c.txt\n", "a_b_c.txt" },
	{ "bidi-override", "Content-Disposition: attachment; "
	  "filename*=utf-8''invoice%E2%80%AEfdp.exe\n", "invoice_fdp.exe" },
	{ "rfc2231-utf-8", "Content-Disposition: attachment; "
	  "filename*=utf-8''K%C3%B6ln.txt\n", "K\xC3\xB6ln.txt" },
	{ "rfc2047-latin1", "Content-Type: application/octet-stream; "
	  "name=\"=?iso-8859-1?Q?M=FCller.doc?=\"\n", "M\xC3\xBCller.doc" },
	{ "name-only-in-type", "Content-Type: image/png; name=\"x.png\"\n",
	  "x.png" },
	{ "no-name", "Content-Disposition: attachment\n", "attachment-1" },
	{ "only-path", "Content-Disposition: attachment; filename=\"dir/\"\n",
	  "attachment-1" },
	{ "dots-only", "Content-Disposition: attachment; filename=\"..\"\n",
	  "attachment-1" },
};

static GPtrArray *
attachments_of(const char *raw, gsize max_total, guint *skipped)
{
	g_autoptr(m2wo_msg_t) msg = parse_str(raw);
	GPtrArray *out = g_ptr_array_new_with_free_func(
		(GDestroyNotify) attachment_free);

	*skipped = text_attachments(msg->mime, max_total, out);
	return out;
}

static void
test_name_case(gconstpointer data)
{
	const name_case_t *c = data;
	g_autofree char *raw = g_strconcat(
		"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n"
		"--b\nContent-Type: text/plain\n\nbody\n--b\n", c->part_headers,
		"\ncontent\n--b--\n", NULL);
	guint skipped;
	g_autoptr(GPtrArray) atts = attachments_of(raw, M2WO_MAX_ATTACH_TOTAL,
	                                           &skipped);
	m2wo_attachment_t *att;

	g_assert_cmpuint(atts->len, ==, 1);
	att = atts->pdata[0];
	g_assert_cmpstr(att->filename, ==, c->want);
	g_assert_cmpuint(skipped, ==, 0);
}

static void
test_name_long(void)
{
	g_autoptr(GString) raw = g_string_new(
		"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n"
		"--b\nContent-Disposition: attachment; filename*=utf-8''");
	guint skipped;
	g_autoptr(GPtrArray) atts = NULL;
	const char *name;

	for (int i = 0; i < 200; i++)
		g_string_append(raw, "%C3%A9");
	g_string_append(raw, ".pdf\n\nx\n--b--\n");
	atts = attachments_of(raw->str, M2WO_MAX_ATTACH_TOTAL, &skipped);
	g_assert_cmpuint(atts->len, ==, 1);
	name = ((m2wo_attachment_t *) atts->pdata[0])->filename;
	g_assert_cmpuint(strlen(name), <=, 255);
	g_assert_true(g_utf8_validate(name, -1, NULL));
	g_assert_true(g_str_has_suffix(name, "\xC3\xA9.pdf"));
}

#define ATT_MSG \
	"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n" \
	"--b\nContent-Type: text/plain\n\nthe body\n" \
	"--b\nContent-Type: application/octet-stream; name=one.bin\n" \
	"Content-Transfer-Encoding: base64\n\nMDEyMzQ1Njc4OQ==\n" \
	"--b\nContent-Type: text/plain; name=two.txt\n\n0123456789\n" \
	"--b\nContent-Type: multipart/related; boundary=r\n\n" \
	"--r\nContent-Type: image/png\nContent-Disposition: inline; " \
	"filename=three.png\nContent-Transfer-Encoding: base64\n\n" \
	"MDEyMzQ1Njc4OQ==\n--r--\n" \
	"--b\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n" \
	"Subject: inner\n\ninner\n--b--\n"

static void
test_attachments_all(void)
{
	guint skipped;
	g_autoptr(GPtrArray) atts = attachments_of(ATT_MSG, M2WO_MAX_ATTACH_TOTAL,
	                                           &skipped);
	static const char *const names[] = {
		"one.bin", "two.txt", "three.png", "attachment-4.eml",
	};

	g_assert_cmpuint(skipped, ==, 0);
	g_assert_cmpuint(atts->len, ==, G_N_ELEMENTS(names));
	for (guint i = 0; i < atts->len; i++) {
		m2wo_attachment_t *att = atts->pdata[i];

		g_assert_cmpstr(att->filename, ==, names[i]);
		if (i < 3)
			g_assert_cmpmem(g_bytes_get_data(att->data, NULL),
			                g_bytes_get_size(att->data),
			                "0123456789", 10);
	}
}

static void
test_attachments_total_cap(void)
{
	guint skipped;
	g_autoptr(GPtrArray) atts = attachments_of(ATT_MSG, 25, &skipped);

	/* 10 + 10 fit in 25; the third 10 does not, nor the message. */
	g_assert_cmpuint(atts->len, ==, 2);
	g_assert_cmpuint(skipped, ==, 2);
}

/* The body text part is never an attachment, even when it is named. */
static void
test_attachments_not_body(void)
{
	guint skipped;
	g_autoptr(GPtrArray) atts = attachments_of(
		"From: a@example.com\nContent-Type: text/plain; name=body.txt\n\n"
		"text\n", M2WO_MAX_ATTACH_TOTAL, &skipped);

	g_assert_cmpuint(atts->len, ==, 0);
}

/* ------------------------------------------------------------- input */

static int
temp_file_with(gsize size)
{
	char path[] = "/tmp/m2wo-test-input-XXXXXX";
	int fd = g_mkstemp(path);
	g_autofree char *data = g_malloc0(size ? size : 1);

	g_assert_cmpint(fd, >=, 0);
	unlink(path);
	memset(data, 'x', size);
	g_assert_cmpint(write(fd, data, size), ==, (gssize) size);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

typedef struct {
	const char *name;
	gsize size;
	gsize max;
	int code;            /* -1: success */
} input_case_t;

static const input_case_t input_cases[] = {
	{ "empty", 0, 100, -1 },
	{ "under", 99, 100, -1 },
	{ "exact", 100, 100, -1 },
	{ "over", 101, 100, M2WO_ERROR_TOO_LARGE },
	{ "big-chunks", 300000, 300000, -1 },
	{ "far-over", 1000000, 1000, M2WO_ERROR_TOO_LARGE },
};

static void
test_input_case(gconstpointer data)
{
	const input_case_t *c = data;
	int fd = temp_file_with(c->size);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = input_read_fd(fd, c->max, 0, &error);
	off_t pos = lseek(fd, 0, SEEK_CUR);

	close(fd);
	if (c->code < 0) {
		g_assert_no_error(error);
		g_assert_cmpuint(g_bytes_get_size(bytes), ==, c->size);
	} else {
		g_assert_null(bytes);
		g_assert_error(error, M2WO_ERROR, c->code);
		/* Never more than max + 1 bytes taken in. */
		g_assert_cmpint(pos, ==, (off_t) c->max + 1);
	}
}

static void
test_input_pipe(void)
{
	int fds[2];
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = NULL;

	g_assert_cmpint(pipe(fds), ==, 0);
	g_assert_cmpint(write(fds[1], "From: a@b\n\nhi\n", 14), ==, 14);
	close(fds[1]);
	bytes = input_read_fd(fds[0], 1000, 0, &error);
	close(fds[0]);
	g_assert_no_error(error);
	g_assert_cmpmem(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes),
	                "From: a@b\n\nhi\n", 14);
}

/* A writer that stops before the end (its side stays open) ends the read
 * at the deadline, as a deadline error; one that ends in time does not. */
static void
test_input_deadline(void)
{
	int fds[2];
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = NULL;
	gint64 start = g_get_monotonic_time();

	g_assert_cmpint(pipe(fds), ==, 0);
	g_assert_cmpint(write(fds[1], "From: a@b\n\n", 12), ==, 12);
	bytes = input_read_fd(fds[0], 1000, start + 200 * 1000, &error);
	g_assert_null(bytes);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_DEADLINE);
	g_assert_nonnull(strstr(error->message, "12 bytes read"));
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 200 * 1000);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
	g_clear_error(&error);
	close(fds[1]);
	bytes = input_read_fd(fds[0], 1000,
	                      g_get_monotonic_time() + G_USEC_PER_SEC, &error);
	close(fds[0]);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(bytes), ==, 0);
}

static void
test_input_file_errors(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autofree char *path = NULL;

	bytes = input_read_file("/nonexistent/m2wo/mail.eml", 100, &error);
	g_assert_null(bytes);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_INTERNAL);
	g_clear_error(&error);

	bytes = input_read_file("/", 100, &error);
	g_assert_null(bytes);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_INTERNAL);
	g_clear_error(&error);

	path = g_build_filename(g_get_tmp_dir(), "m2wo-test-big.eml", NULL);
	g_assert_true(g_file_set_contents(path, "0123456789", 10, NULL));
	bytes = input_read_file(path, 9, &error);
	g_assert_error(error, M2WO_ERROR, M2WO_ERROR_TOO_LARGE);
	g_clear_error(&error);
	bytes = input_read_file(path, 10, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(bytes), ==, 10);
	unlink(path);
}

/* ----------------------------------------------------------------- main */

#define ADD_TABLE(prefix, table, fn) \
	for (gsize i = 0; i < G_N_ELEMENTS(table); i++) { \
		g_autofree char *path = g_strconcat(prefix, table[i].name, NULL); \
		g_test_add_data_func(path, &table[i], fn); \
	}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	ADD_TABLE("/text/body/", body_cases, test_body_case);
	ADD_TABLE("/text/html/", html_cases, test_html_case);
	g_test_add_func("/text/html/deep", test_html_deep);
	g_test_add_func("/text/html/loaded-on-demand",
	                test_html_loaded_on_demand);
	ADD_TABLE("/parse/header/", header_cases, test_header_case);
	g_test_add_func("/parse/header/invalid-encoded-word",
	                test_header_invalid_encoded_word);
	g_test_add_func("/parse/mbox-from-line", test_mbox_from_line);
	g_test_add_func("/parse/headers-only", test_headers_only);
	ADD_TABLE("/parse/queue-id/", queue_cases, test_queue_case);
	ADD_TABLE("/parse/bad/", bad_cases, test_bad_case);
	g_test_add_func("/parse/header-too-large", test_header_too_large);
	g_test_add_func("/parse/header-under-limit", test_header_under_limit);
	ADD_TABLE("/text/depth/", depth_cases, test_depth_case);
	g_test_add_func("/text/parts-cap", test_parts_cap);
	g_test_add_func("/text/text-cap", test_text_cap);
	g_test_add_func("/parse/key/format", test_key_format);
	ADD_TABLE("/parse/key/", key_cases, test_key_case);
	ADD_TABLE("/text/attachment-name/", name_cases, test_name_case);
	g_test_add_func("/text/attachment-name/long", test_name_long);
	g_test_add_func("/text/attachments/all", test_attachments_all);
	g_test_add_func("/text/attachments/total-cap", test_attachments_total_cap);
	g_test_add_func("/text/attachments/not-body", test_attachments_not_body);
	ADD_TABLE("/input/fd/", input_cases, test_input_case);
	g_test_add_func("/input/pipe", test_input_pipe);
	g_test_add_func("/input/deadline", test_input_deadline);
	g_test_add_func("/input/file-errors", test_input_file_errors);
	return g_test_run();
}
