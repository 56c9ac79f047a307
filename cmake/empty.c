/* Keeps a library target valid while its directory has no sources of its own. */
typedef int wr_empty_translation_unit;
