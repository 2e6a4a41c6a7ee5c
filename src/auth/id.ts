import { Limits } from '@arbor/gateway-client/protocol';

export function isValidId(value: string): boolean {
  return value.length > 0 && value.length <= Limits.MAX_ID_LENGTH;
}
