import { Logger } from '@nestjs/common';

// Unit specs assert behaviour, not log output; keep the run readable.
Logger.overrideLogger(false);
