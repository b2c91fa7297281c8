/* Names and explanations of the drop reasons (psw_pkt.h) and event counters (psw_stage.h). */
#include "psw_pkt.h"
#include "psw_stage.h"

static const char *const drop_names[PSW_DROP_COUNT] = {
	[PSW_DROP_NONE] = "none",
#define _(sym, name, help) [PSW_DROP_##sym] = name,
	PSW_DROP_REASONS(_)
#undef _
};

static const char *const drop_helps[PSW_DROP_COUNT] = {
	[PSW_DROP_NONE] = "not dropped",
#define _(sym, name, help) [PSW_DROP_##sym] = help,
	PSW_DROP_REASONS(_)
#undef _
};

const char *
psw_drop_name(unsigned reason)
{
	return reason < PSW_DROP_COUNT ? drop_names[reason] : "invalid";
}

const char *
psw_drop_help(unsigned reason)
{
	return reason < PSW_DROP_COUNT ? drop_helps[reason] : "invalid";
}

static const char *const event_names[PSW_EV_COUNT] = {
#define _(sym, name, help) [PSW_EV_##sym] = name,
	PSW_EVENTS(_)
#undef _
};

const char *
psw_event_name(unsigned ev)
{
	return ev < PSW_EV_COUNT ? event_names[ev] : "invalid";
}
