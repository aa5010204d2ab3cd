import { describe, expect, it } from 'vitest';
import { fenceActionChoices, onStoppedChoices } from '#functions/shared/contract/settings.ts';
import { fenceActionNamed, onStoppedNamed } from '#infra/choices.ts';

// The construct's choice classes are the settings contract's choices, each one member: a choice
// the functions learn is one the construct can pass (and the app's context can name).
describe("the construct's choice classes", () => {
  it.each(onStoppedChoices)('have an OnStopped member for %s', (value) => {
    expect(onStoppedNamed(value)?.value).toBe(value);
  });

  it.each(fenceActionChoices)('have a FenceAction member for %s', (value) => {
    expect(fenceActionNamed(value)?.value).toBe(value);
  });

  it('know no other value', () => {
    expect(onStoppedNamed('constructor')).toBeUndefined();
    expect(fenceActionNamed('reboot')).toBeUndefined();
  });
});
