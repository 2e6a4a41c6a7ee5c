import { ValidateBy, type ValidationOptions } from 'class-validator';
import { isWellFormedText } from '@arbor/gateway-client/protocol';

/** The constraint's name, which the compiled validator knows too. */
export const IS_WELL_FORMED = 'isWellFormed';

export const wellFormedMessage = (field: string) => `${field} must be well-formed Unicode (no lone surrogates)`;

/** A string with no lone surrogate (see isWellFormedText); other types are left to @IsString. */
export function IsWellFormed(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: IS_WELL_FORMED,
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || isWellFormedText(value),
        defaultMessage: (args) => wellFormedMessage(args?.property ?? 'value'),
      },
    },
    options,
  );
}
