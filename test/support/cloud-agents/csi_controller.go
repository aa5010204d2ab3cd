package main

// The controller side of a CSI plugin for ebs.csi.aws.com, attaching and detaching in the
// emulator. ControllerPublish/Unpublish behave like the AWS EBS CSI driver's (pkg/driver and
// pkg/cloud in kubernetes-sigs/aws-ebs-csi-driver): an instance EC2 no longer knows counts as
// detached, an attach to a stopped instance succeeds, an attach waits until EC2 reports it.
// It also enforces three EC2 rules that moto 5.2.1 skips in AttachVolume: a volume attached to
// another instance (VolumeInUse), a volume in another zone (InvalidVolume.ZoneMismatch) and a
// terminated or terminating instance (IncorrectInstanceState).
//
// Every attach and detach it makes in EC2 is appended to a JSON-lines log, so tests and
// benchmarks can count re-attachments to a dead instance.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const driverName = "ebs.csi.aws.com"

type csiController struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer

	ec2         *ec2Client
	waitTimeout time.Duration

	instanceLocks sync.Map // instance id -> *sync.Mutex: device names are chosen per instance

	logMu  sync.Mutex
	ec2Log *os.File
}

func runCSIController(args []string) error {
	flags := flag.NewFlagSet("ebs-csi-controller", flag.ExitOnError)
	socket := flags.String("csi-address", "", "unix socket to serve CSI on (required)")
	endpoint := flags.String("ec2-endpoint", "", "EC2 endpoint (moto) (required)")
	region := flags.String("region", "us-east-1", "AWS Region")
	ec2LogPath := flags.String("ec2-log", "", "JSON-lines file that records every attach and detach made in EC2 (required)")
	_ = flags.Parse(args)
	if *socket == "" || *endpoint == "" || *ec2LogPath == "" {
		return errors.New("-csi-address, -ec2-endpoint and -ec2-log are required")
	}
	ec2Log, err := os.OpenFile(*ec2LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_ = os.Remove(*socket)
	listener, err := net.Listen("unix", *socket)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *socket, err)
	}
	server := grpc.NewServer()
	controller := &csiController{ec2: newEC2Client(*endpoint, *region), waitTimeout: time.Minute, ec2Log: ec2Log}
	csi.RegisterIdentityServer(server, controller)
	csi.RegisterControllerServer(server, controller)
	go func() {
		stopWhenStdinCloses()
		server.Stop()
	}()
	log.Printf("ebs-csi-controller serving on %s", *socket)
	return server.Serve(listener)
}

func (c *csiController) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: driverName, VendorVersion: "test"}, nil
}

func (c *csiController) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{{
		Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{
			Type: csi.PluginCapability_Service_CONTROLLER_SERVICE,
		}},
	}}}, nil
}

func (c *csiController) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil
}

func (c *csiController) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: []*csi.ControllerServiceCapability{{
		Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{
			Type: csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
		}},
	}}}, nil
}

func (c *csiController) lockInstance(id string) func() {
	mu, _ := c.instanceLocks.LoadOrStore(id, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	return mu.(*sync.Mutex).Unlock
}

func (c *csiController) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	volumeID, instanceID := req.GetVolumeId(), req.GetNodeId()
	if volumeID == "" || instanceID == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id and node id are required")
	}
	defer c.lockInstance(instanceID)()

	inst, vol, err := c.lookup(ctx, instanceID, volumeID)
	switch {
	case err != nil:
		return nil, err
	case inst == nil:
		return nil, status.Errorf(codes.NotFound, "Instance %q not found", instanceID)
	case vol == nil:
		return nil, status.Errorf(codes.NotFound, "Volume %q not found", volumeID)
	}
	for _, a := range vol.Attachments {
		if a.InstanceID == instanceID {
			return c.awaitAttached(ctx, volumeID, instanceID, a.Device)
		}
	}
	// The rules real EC2 enforces in AttachVolume and moto 5.2.1 does not.
	switch {
	case inst.State == "terminated" || inst.State == "shutting-down":
		return nil, c.attachFailure(volumeID, instanceID, "IncorrectInstanceState",
			fmt.Sprintf("The instance '%s' is not in the 'running' or 'stopped' states.", instanceID))
	case len(vol.Attachments) > 0:
		return nil, c.attachFailure(volumeID, instanceID, "VolumeInUse",
			fmt.Sprintf("%s is already attached to an instance", volumeID))
	case vol.AvailabilityZone != inst.AvailabilityZone:
		return nil, c.attachFailure(volumeID, instanceID, "InvalidVolume.ZoneMismatch",
			fmt.Sprintf("The volume '%s' is not in the same availability zone as instance '%s'", volumeID, instanceID))
	}

	device, err := c.freeDevice(ctx, instanceID)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "choosing a device on %s: %v", instanceID, err)
	}
	if err := c.ec2.attachVolume(ctx, volumeID, instanceID, device); err != nil {
		return nil, status.Errorf(codes.Internal, "Could not attach volume %q to node %q: %v", volumeID, instanceID, err)
	}
	c.record("attach", volumeID, instanceID, inst.State)
	return c.awaitAttached(ctx, volumeID, instanceID, device)
}

func (c *csiController) attachFailure(volumeID, instanceID, code, message string) error {
	return status.Errorf(codes.Internal, "Could not attach volume %q to node %q: %s: %s", volumeID, instanceID, code, message)
}

func (c *csiController) awaitAttached(ctx context.Context, volumeID, instanceID, device string) (*csi.ControllerPublishVolumeResponse, error) {
	err := c.await(ctx, volumeID, func(v *volume) bool {
		for _, a := range v.Attachments {
			if a.InstanceID == instanceID && a.State == "attached" {
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "waiting for %s to attach to %s: %v", volumeID, instanceID, err)
	}
	return &csi.ControllerPublishVolumeResponse{PublishContext: map[string]string{"devicePath": device}}, nil
}

func (c *csiController) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	volumeID, instanceID := req.GetVolumeId(), req.GetNodeId()
	if volumeID == "" || instanceID == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id and node id are required")
	}
	defer c.lockInstance(instanceID)()

	// Like the EBS CSI driver: an instance or a volume EC2 does not know is detached.
	inst, vol, err := c.lookup(ctx, instanceID, volumeID)
	if err != nil {
		return nil, err
	}
	if inst == nil || vol == nil || !attachedTo(vol, instanceID) {
		return &csi.ControllerUnpublishVolumeResponse{}, nil
	}
	if err := c.ec2.detachVolume(ctx, volumeID, instanceID); err != nil {
		if isEC2Error(err, "IncorrectState") || isEC2Error(err, "InvalidAttachment.NotFound") {
			return &csi.ControllerUnpublishVolumeResponse{}, nil
		}
		return nil, status.Errorf(codes.Internal, "Could not detach volume %q from node %q: %v", volumeID, instanceID, err)
	}
	c.record("detach", volumeID, instanceID, inst.State)
	if err := c.await(ctx, volumeID, func(v *volume) bool { return !attachedTo(v, instanceID) }); err != nil {
		return nil, status.Errorf(codes.Internal, "waiting for %s to detach from %s: %v", volumeID, instanceID, err)
	}
	return &csi.ControllerUnpublishVolumeResponse{}, nil
}

// lookup asks EC2 for the instance and the volume; either is nil when EC2 does not know it.
func (c *csiController) lookup(ctx context.Context, instanceID, volumeID string) (*instance, *volume, error) {
	instances, err := c.ec2.describeInstances(ctx, []string{instanceID})
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "describing instance %s: %v", instanceID, err)
	}
	vol, err := c.ec2.describeVolume(ctx, volumeID)
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "describing volume %s: %v", volumeID, err)
	}
	inst, ok := instances[instanceID]
	if !ok {
		return nil, vol, nil
	}
	return &inst, vol, nil
}

func attachedTo(v *volume, instanceID string) bool {
	for _, a := range v.Attachments {
		if a.InstanceID == instanceID {
			return true
		}
	}
	return false
}

// await polls the volume like the EBS CSI driver does (from 1 s, backing off), until done.
func (c *csiController) await(ctx context.Context, volumeID string, done func(*volume) bool) error {
	deadline := time.Now().Add(c.waitTimeout)
	delay := 250 * time.Millisecond
	for {
		v, err := c.ec2.describeVolume(ctx, volumeID)
		if err != nil {
			return err
		}
		if v == nil {
			return fmt.Errorf("volume %s is gone", volumeID)
		}
		if done(v) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still not done after %s", c.waitTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*18/10, 4*time.Second)
	}
}

// freeDevice picks the first device name no volume of the instance uses, as the driver's
// device allocator does (/dev/xvdaa onwards).
func (c *csiController) freeDevice(ctx context.Context, instanceID string) (string, error) {
	volumes, err := c.ec2.volumesAttachedTo(ctx, instanceID)
	if err != nil {
		return "", err
	}
	used := map[string]bool{}
	for _, v := range volumes {
		for _, a := range v.Attachments {
			if a.InstanceID == instanceID {
				used[a.Device] = true
			}
		}
	}
	for _, first := range "abcdefghijklmnopqrstuvwxyz" {
		for _, second := range "abcdefghijklmnopqrstuvwxyz" {
			device := fmt.Sprintf("/dev/xvd%c%c", first, second)
			if !used[device] {
				return device, nil
			}
		}
	}
	return "", errors.New("no free device name")
}

// record appends one line to the EC2 log: what was done, to which instance, in which state.
func (c *csiController) record(action, volumeID, instanceID, instanceState string) {
	line, _ := json.Marshal(map[string]string{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "action": action,
		"volumeId": volumeID, "instanceId": instanceID, "instanceState": instanceState,
	})
	c.logMu.Lock()
	defer c.logMu.Unlock()
	_, _ = c.ec2Log.Write(append(line, '\n'))
}
