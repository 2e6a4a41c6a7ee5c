import { Logger } from '@nestjs/common';

// Specs assert behaviour, not log output; a passing run stays readable. Suites that check what is
// logged give the app a logger of their own (useLogger) or read a child process's output.
Logger.overrideLogger(false);
