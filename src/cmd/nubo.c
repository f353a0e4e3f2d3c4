/* nubo: the command-line client of nubod (see src/cli/cli.h and docs/cli.md). */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
