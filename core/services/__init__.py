"""One function per user action; pages, the CLI and job workers all call these."""
