import { isWellFormedText, Limits } from '@arbor/gateway-client/protocol';

/** 1-128 characters of well-formed Unicode: ids become Redis keys, where a lone surrogate would not survive. */
export function isValidId(value: string): boolean {
  return value.length > 0 && value.length <= Limits.MAX_ID_LENGTH && isWellFormedText(value);
}
