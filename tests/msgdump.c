/*
 * msgdump: reads each message file named on the command line through the
 * input and parse stages and prints what m2wo saw as one JSON line per
 * file. A check program for the corpus test: it must never crash, whatever
 * the input, and prints an "error" instead of the fields when a stage fails.
 */
#include <stdio.h>

#include "m2wo.h"

/* Paths and error texts may hold any bytes; JSON wants UTF-8. */
static json_object *
msgdump_string(const char *value)
{
	g_autofree char *valid = NULL;

	if (value == NULL)
		return NULL;
	valid = g_utf8_make_valid(value, -1);
	return json_object_new_string(valid);
}

static json_object *
msgdump_one(const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) raw = NULL;
	g_autoptr(m2wo_msg_t) msg = NULL;
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "file", msgdump_string(path));
	raw = input_read_file(path, M2WO_DEF_MAX_MESSAGE_SIZE, &error);
	if (raw != NULL)
		msg = msg_parse(raw, &error);
	if (msg == NULL) {
		json_object_object_add(obj, "error",
		                       msgdump_string(error->message));
		return obj;
	}
	json_object_object_add(obj, "subject", msgdump_string(msg->subject));
	json_object_object_add(obj, "from", msgdump_string(msg->from_address));
	json_object_object_add(obj, "from_name", msgdump_string(msg->from_name));
	json_object_object_add(obj, "message_id",
	                       msgdump_string(msg->message_id));
	json_object_object_add(obj, "body", msgdump_string(msg->body));
	json_object_object_add(obj, "body_from_html",
	                       json_object_new_boolean(msg->body_from_html));
	json_object_object_add(obj, "body_truncated",
	                       json_object_new_boolean(msg->body_truncated));
	json_object_object_add(obj, "message_key",
	                       json_object_new_string(msg->message_key));
	/* The envelope is unknown here, as in --drop mode. */
	json_object_object_add(obj, "autoreply",
	                       msgdump_string(classify_autoreply(msg, NULL)));
	json_object_object_add(obj, "error", NULL);
	return obj;
}

int
main(int argc, char **argv)
{
	g_mime_init();
	for (int i = 1; i < argc; i++) {
		json_object *obj = msgdump_one(argv[i]);

		puts(json_object_to_json_string_ext(obj,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(obj);
	}
	fflush(stdout);
	g_mime_shutdown();
	return 0;
}
