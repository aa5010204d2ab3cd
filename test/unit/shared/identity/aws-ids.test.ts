import { describe, expect, it } from 'vitest';
import {
  instanceIdFromProviderId,
  parseEbsVolumeId,
  providerIdFor,
} from '#functions/shared/identity/aws-ids.ts';

describe('instanceIdFromProviderId', () => {
  it('reads the instance id from the providerID the AWS cloud provider writes', () => {
    expect(instanceIdFromProviderId('aws:///us-east-1a/i-0123456789abcdef0')).toBe(
      'i-0123456789abcdef0',
    );
  });

  it('reads the older form with the zone as host', () => {
    expect(instanceIdFromProviderId('aws://us-east-1a/i-0123abcd')).toBe('i-0123abcd');
  });

  it.each([
    ['a providerID of another cloud', 'gce://project/zone/instance-1'],
    ['a kind cluster node', 'kind://docker/kind/kind-worker'],
    ['a providerID without an instance id', 'aws:///us-east-1a/'],
    ['a malformed instance id', 'aws:///us-east-1a/i-XYZ'],
    ['no providerID at all', undefined],
  ])('gives nothing for %s', (_, providerId) => {
    expect(instanceIdFromProviderId(providerId)).toBeUndefined();
  });

  it('round-trips with providerIdFor', () => {
    expect(instanceIdFromProviderId(providerIdFor('eu-west-1b', 'i-0fedcba9876543210'))).toBe(
      'i-0fedcba9876543210',
    );
  });
});

describe('parseEbsVolumeId', () => {
  it.each([
    ['a CSI volumeHandle', 'vol-0123456789abcdef0'],
    ['an in-tree volumeID with zone', 'aws://us-east-1a/vol-0123456789abcdef0'],
    ['an in-tree volumeID without zone', 'aws:///vol-0123456789abcdef0'],
  ])('reads %s', (_, reference) => {
    expect(parseEbsVolumeId(reference)).toBe('vol-0123456789abcdef0');
  });

  it('accepts the short volume ids of older accounts', () => {
    expect(parseEbsVolumeId('aws://us-east-1a/vol-0a1b2c3d')).toBe('vol-0a1b2c3d');
  });

  it.each([
    ['an EFS handle', 'fs-0123456789abcdef0::fsap-0123'],
    ['a volume id with trailing text', 'vol-0123456789abcdef0/extra'],
    ['an empty string', ''],
    ['nothing', undefined],
  ])('gives nothing for %s', (_, reference) => {
    expect(parseEbsVolumeId(reference)).toBeUndefined();
  });
});
