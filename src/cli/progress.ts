/** The `--quiet` flag of every long command (the progress output itself is math's consoleOutput). */
export const quietOption = { quiet: { type: 'boolean', description: 'no progress lines on stderr (the log lines stay)' } } as const;
