/*
 * outcome.c: the one place that maps an outcome to its exit code and to the
 * DSN text that Postfix puts into a bounce, and a stage's error to an
 * outcome. DSN texts are short and fixed: they never carry a URL, a token,
 * an API answer or anything of the message.
 */
#include "m2wo.h"

#include <sysexits.h>

typedef struct {
	const char *name;
	int exit_code;
	const char *dsn;         /* NULL for outcomes that exit 0 */
} outcome_info_t;

/* Indexed by m2wo_outcome_t. */
static const outcome_info_t outcomes[] = {
	[M2WO_OUTCOME_CREATED] = { "created", EX_OK, NULL },
	[M2WO_OUTCOME_DUPLICATE] = { "duplicate", EX_OK, NULL },
	[M2WO_OUTCOME_DISCARDED] = { "discarded", EX_OK, NULL },
	[M2WO_OUTCOME_QUARANTINED] = { "quarantined", EX_OK, NULL },
	[M2WO_OUTCOME_TEMPFAIL] = { "tempfail", EX_TEMPFAIL,
	                            M2WO_DSN_INTERNAL },
	[M2WO_OUTCOME_UNMATCHED] = { "unmatched", EX_NOUSER,
	        "5.1.1 no mail configuration accepts this message" },
	[M2WO_OUTCOME_CUSTOMER_NOT_FOUND] = { "customer_not_found", EX_DATAERR,
	        "5.6.0 customer not found" },
	[M2WO_OUTCOME_INCOMPLETE] = { "incomplete", EX_DATAERR,
	        "5.6.0 work order incomplete" },
	[M2WO_OUTCOME_REJECTED] = { "rejected", EX_DATAERR,
	        "5.6.0 work order refused" },
	[M2WO_OUTCOME_TOO_LARGE] = { "too_large", EX_DATAERR,
	        "5.3.4 message too big for m2wo" },
};

/* Input that is no mail at all is refused with its own text (decision 4). */
#define DSN_NO_HEADERS "5.6.0 message has no headers"

static const outcome_info_t *outcome_info(m2wo_outcome_t outcome)
{
	if ((guint)outcome >= G_N_ELEMENTS(outcomes))
		return &outcomes[M2WO_OUTCOME_TEMPFAIL];
	return &outcomes[outcome];
}

const char *outcome_to_string(m2wo_outcome_t outcome)
{
	if ((guint)outcome >= G_N_ELEMENTS(outcomes))
		return "unknown";
	return outcomes[outcome].name;
}

int outcome_exit_code(m2wo_outcome_t outcome)
{
	/* An outcome nobody knows is a bug: keep the mail. */
	return outcome_info(outcome)->exit_code;
}

static void outcome_store(m2wo_run_t *run, m2wo_outcome_t outcome,
                          const char *dsn, const char *reason)
{
	run->outcome = outcome;
	g_clear_pointer(&run->reason, g_free);
	if (reason != NULL && *reason != '\0')
		run->reason = audit_clean(reason, M2WO_MAX_AUDIT_VALUE);
	g_clear_pointer(&run->dsn, g_free);
	run->dsn = g_strdup(dsn);
}

void outcome_set(m2wo_run_t *run, m2wo_outcome_t outcome, const char *reason)
{
	outcome_store(run, outcome, outcome_info(outcome)->dsn, reason);
}

void outcome_tempfail(m2wo_run_t *run, const char *dsn, const char *reason)
{
	/* Only a 4.x.y text may go with a temporary failure; anything else
	 * would let Postfix bounce a message m2wo meant to keep. */
	if (dsn == NULL || !g_str_has_prefix(dsn, "4."))
		dsn = M2WO_DSN_INTERNAL;
	outcome_store(run, M2WO_OUTCOME_TEMPFAIL, dsn, reason);
}

void outcome_from_error(m2wo_run_t *run, const GError *error)
{
	const char *reason = error != NULL ? error->message : "unknown error";

	if (error == NULL || error->domain != M2WO_ERROR) {
		outcome_tempfail(run, M2WO_DSN_INTERNAL, reason);
		return;
	}
	switch ((m2wo_error_t)error->code) {
	case M2WO_ERROR_TEMP:
		outcome_tempfail(run, M2WO_DSN_API_UNREACHABLE, reason);
		break;
	case M2WO_ERROR_CONFIG:
	case M2WO_ERROR_REGEX_LIMIT:
		outcome_tempfail(run, M2WO_DSN_CONFIG, reason);
		break;
	case M2WO_ERROR_TOO_LARGE:
		outcome_set(run, M2WO_OUTCOME_TOO_LARGE, reason);
		break;
	case M2WO_ERROR_BAD_INPUT:
		outcome_store(run, M2WO_OUTCOME_REJECTED, DSN_NO_HEADERS, reason);
		break;
	case M2WO_ERROR_REJECT:
		outcome_set(run, M2WO_OUTCOME_REJECTED, reason);
		break;
	case M2WO_ERROR_NOT_FOUND:
		outcome_set(run, M2WO_OUTCOME_CUSTOMER_NOT_FOUND, reason);
		break;
	case M2WO_ERROR_INCOMPLETE:
		outcome_set(run, M2WO_OUTCOME_INCOMPLETE, reason);
		break;
	case M2WO_ERROR_DISK:
		outcome_tempfail(run, M2WO_DSN_DISK, reason);
		break;
	case M2WO_ERROR_DEADLINE:
		outcome_tempfail(run, M2WO_DSN_DEADLINE, reason);
		break;
	case M2WO_ERROR_DAILY_LIMIT:
		outcome_tempfail(run, M2WO_DSN_DAILY_LIMIT, reason);
		break;
	case M2WO_ERROR_INTERNAL:
	default:
		outcome_tempfail(run, M2WO_DSN_INTERNAL, reason);
		break;
	}
}
