/** The Powertools Logger singleton: JSON lines, one per event, with the event id as `correlation_id`. */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'nango-metadata-sync',
});
