package main

// A stand-in for EKS Auto Mode's EBS driver, whose CSI name is ebs.csi.eks.amazonaws.com and
// whose code is not public: the real EBS CSI driver's controller (which calls itself
// ebs.csi.aws.com) behind a CSI proxy that answers GetPluginInfo with the Auto Mode name and
// passes every other call through unchanged. A second external-attacher in front of the proxy
// then serves the VolumeAttachments of that driver, with its own finalizer, as on Auto Mode.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type renamedDriver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer

	name       string
	identity   csi.IdentityClient
	controller csi.ControllerClient
}

func runCSIDriverName(args []string) error {
	flags := flag.NewFlagSet("csi-driver-name", flag.ExitOnError)
	listen := flags.String("listen", "", "unix socket to serve CSI on (required)")
	upstream := flags.String("upstream", "", "unix socket of the CSI driver to pass calls to (required)")
	name := flags.String("name", "", "the driver name GetPluginInfo answers (required)")
	_ = flags.Parse(args)
	if *listen == "" || *upstream == "" || *name == "" {
		return errors.New("-listen, -upstream and -name are required")
	}
	conn, err := grpc.NewClient("unix://"+*upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", *upstream, err)
	}
	defer conn.Close()
	_ = os.Remove(*listen)
	listener, err := net.Listen("unix", *listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	server := grpc.NewServer()
	driver := &renamedDriver{name: *name, identity: csi.NewIdentityClient(conn), controller: csi.NewControllerClient(conn)}
	csi.RegisterIdentityServer(server, driver)
	csi.RegisterControllerServer(server, driver)
	go func() {
		stopWhenStdinCloses()
		server.Stop()
	}()
	log.Printf("serving %s on %s, passing calls to %s", *name, *listen, *upstream)
	return server.Serve(listener)
}

func (d *renamedDriver) GetPluginInfo(ctx context.Context, req *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	info, err := d.identity.GetPluginInfo(ctx, req)
	if err != nil {
		return nil, err
	}
	return &csi.GetPluginInfoResponse{Name: d.name, VendorVersion: info.VendorVersion, Manifest: info.Manifest}, nil
}

func (d *renamedDriver) GetPluginCapabilities(ctx context.Context, req *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return d.identity.GetPluginCapabilities(ctx, req)
}

func (d *renamedDriver) Probe(ctx context.Context, req *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return d.identity.Probe(ctx, req)
}

func (d *renamedDriver) ControllerGetCapabilities(ctx context.Context, req *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	return d.controller.ControllerGetCapabilities(ctx, req)
}

func (d *renamedDriver) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	return d.controller.ControllerPublishVolume(ctx, req)
}

func (d *renamedDriver) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	return d.controller.ControllerUnpublishVolume(ctx, req)
}

func (d *renamedDriver) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	return d.controller.ListVolumes(ctx, req)
}
