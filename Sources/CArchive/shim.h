#include <archive.h>
#include <archive_entry.h>
// AE_IFREG is a cast macro that Swift does not import.
static const unsigned int BYOL_AE_IFREG = AE_IFREG;
