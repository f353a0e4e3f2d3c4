/*
 * man: `nubo --man` prints the manual page nubo(1) in roff, made from the
 * same command tables and help texts as `nubo --help` (the build installs
 * it), so the manual lists every command the binary has.
 */
#include <string.h>

#include "cli/commands.h"
#include "config.h"
#include "util/str.h"

/* Text as roff: backslashes escaped, dashes as \-, no line starting with a control character. */
static void roff(struct sbuf *b, const char *s)
{
	bool bol = true;
	for (; *s; s++) {
		if (bol && (*s == '.' || *s == '\''))
			sbuf_add(b, "\\&");
		if (*s == '\\')
			sbuf_add(b, "\\e");
		else if (*s == '-')
			sbuf_add(b, "\\-");
		else
			sbuf_addf(b, "%c", *s);
		bol = *s == '\n';
	}
}

static void flags_section(struct sbuf *b, const struct arg_flag *flags)
{
	for (const struct arg_flag *f = flags; f && f->name; f++) {
		sbuf_add(b, ".TP\n\\fB");
		if (f->short_name)
			sbuf_addf(b, "\\-%c\\fR, \\fB", f->short_name);
		roff(b, "--");
		roff(b, f->name);
		sbuf_add(b, "\\fR");
		if (f->type == ARG_VALUE) {
			sbuf_add(b, " \\fI");
			roff(b, f->metavar ? f->metavar : "VALUE");
			sbuf_add(b, "\\fR");
		}
		sbuf_add(b, "\n");
		roff(b, f->help);
		sbuf_add(b, "\n");
	}
}

char *commands_man(void)
{
	struct sbuf b = {0};
	sbuf_addf(&b, ".\\\" Made by `nubo --man` from nubo's command tables; do not edit.\n"
		      ".TH NUBO 1 \"\" \"nubo %s\" \"nubo\"\n"
		      ".SH NAME\nnubo \\- virtual machines on your own servers, from nubod's API\n"
		      ".SH SYNOPSIS\n.B nubo\n[\\fIGLOBAL FLAGS\\fR] \\fINOUN\\fR \\fIVERB\\fR [\\fIARGS\\fR] [\\fIFLAGS\\fR]\n"
		      ".br\n.B nubo help\n[\\fINOUN\\fR [\\fIVERB\\fR]]\n"
		      ".SH DESCRIPTION\n"
		      "\\fBnubo\\fR is the command line of nubo, a thin client of the REST API of \\fBnubod\\fR(8): "
		      "over its unix socket (/run/nubo/nubod.sock) by default, or over HTTPS with an API token. "
		      "Lists and shows print tables for people, or the API's JSON with \\fB\\-\\-json\\fR; actions "
		      "follow their operation to its end with \\fB\\-\\-wait\\fR.\n",
		  NUBO_VERSION);
	sbuf_add(&b, ".SH COMMANDS\n");
	const struct cli_noun *const *nouns = commands_nouns();
	for (size_t i = 0; nouns[i]; i++) {
		const struct cli_noun *n = nouns[i];
		sbuf_add(&b, ".SS ");
		roff(&b, n->name);
		sbuf_add(&b, "\n");
		roff(&b, n->summary);
		sbuf_add(&b, "\n");
		for (const struct cli_verb *v = n->verbs; v->name; v++) {
			sbuf_add(&b, ".TP\n\\fBnubo ");
			roff(&b, n->name);
			if (v->name[0]) {
				sbuf_add(&b, " ");
				roff(&b, v->name);
			}
			sbuf_add(&b, "\\fR ");
			roff(&b, v->usage);
			sbuf_add(&b, "\n");
			roff(&b, v->summary);
			sbuf_add(&b, ".\n");
			if (v->details) {
				sbuf_add(&b, ".IP\n.nf\n");
				roff(&b, v->details);
				sbuf_add(&b, ".fi\n");
			}
			if (v->flags && v->flags[0].name) {
				sbuf_add(&b, ".RS\n");
				flags_section(&b, v->flags);
				sbuf_add(&b, ".RE\n");
			}
		}
	}
	sbuf_add(&b, ".SS Short forms\n");
	for (const struct cli_alias *al = commands_aliases; al->word; al++) {
		sbuf_add(&b, ".TP\n\\fBnubo ");
		roff(&b, al->word);
		sbuf_add(&b, "\\fR\nis \\fBnubo ");
		roff(&b, al->noun->name);
		sbuf_add(&b, " ");
		roff(&b, al->verb);
		sbuf_add(&b, "\\fR.\n");
	}
	sbuf_add(&b, ".SH GLOBAL FLAGS\nBefore the noun; the connection flags work after the verb too.\n");
	flags_section(&b, commands_global_flags);
	flags_section(&b, commands_top_flags);
	sbuf_add(&b, ".SH ENVIRONMENT\n"
		     ".TP\n.B NUBO_PROFILE\nthe profile to use, as \\fB\\-\\-profile\\fR\n"
		     ".TP\n.B NUBO_SOCKET\nnubod's unix socket, as \\fB\\-\\-socket\\fR\n"
		     ".TP\n.B NUBO_URL\nnubod's HTTPS address, as \\fB\\-\\-url\\fR\n"
		     ".TP\n.B NUBO_TOKEN\nthe API token, as \\fB\\-\\-token\\fR\n"
		     ".TP\n.B NUBO_CACERT\nthe certificate to trust, as \\fB\\-\\-cacert\\fR\n"
		     ".TP\n.B XDG_CONFIG_HOME\nwhere nubo keeps its files (default ~/.config)\n"
		     ".SH FILES\n"
		     ".TP\n.I ~/.config/nubo/config.json\nprofiles: named remotes (\\fBnubo profile\\fR)\n"
		     ".TP\n.I ~/.config/nubo/tokens/\ntokens saved by \\fBnubo profile add \\-\\-token\\fR, mode 0600\n"
		     ".TP\n.I ~/.config/nubo/id_ed25519\nthe key pair nubo makes for VMs created without \\fB\\-\\-ssh\\-key\\fR\n"
		     ".SH EXIT STATUS\n0 done; 1 nubod or the operation failed; 2 wrong command line; 130 interrupted.\n"
		     ".SH SEE ALSO\n\\fBnubod\\fR(8); /usr/share/doc/nubo/install.md\n");
	return sbuf_take(&b);
}
