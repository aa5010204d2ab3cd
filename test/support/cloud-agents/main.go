// Command cloud-agents plays, for the integration tests of ebs-volume-remediator, the parts of a
// Kubernetes cluster on AWS that run outside the control plane, against the moto EC2 emulator:
//
//	cloud-agents nodes -kubeconfig K -ec2-endpoint E
//	    simulated kubelets (kubelets.go)
//	cloud-agents csi-driver-name -listen S -upstream U -name N
//	    the real EBS CSI driver under EKS Auto Mode's driver name (csi_driver_name.go)
//
// Each stops when its standard input closes, so a test runner that dies never leaves it running.
// The module also builds the real CSI external-attacher (its tool dependency); the CSI
// controller behind it is the real EBS CSI driver (../ebs-csi-driver), the cloud node
// lifecycle the real AWS cloud-controller-manager (../aws-cloud-controller).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: cloud-agents nodes|csi-driver-name [flags]"))
	}
	var err error
	switch os.Args[1] {
	case "nodes":
		err = runNodes(os.Args[2:])
	case "csi-driver-name":
		err = runCSIDriverName(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want nodes or csi-driver-name", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "cloud-agents: %v\n", err)
	os.Exit(1)
}

func stopWhenStdinCloses() {
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func runNodes(args []string) error {
	flags := flag.NewFlagSet("nodes", flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of an identity allowed to act as kubelets (required)")
	endpoint := flags.String("ec2-endpoint", "", "EC2 endpoint (moto) (required)")
	region := flags.String("region", "us-east-1", "AWS Region")
	_ = flags.Parse(args)
	if *kubeconfig == "" || *endpoint == "" {
		return errors.New("-kubeconfig and -ec2-endpoint are required")
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	config.QPS, config.Burst = 200, 400
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		stopWhenStdinCloses()
		cancel()
	}()
	ec2 := newEC2Client(*endpoint, *region)
	factory := informers.NewSharedInformerFactory(client, 10*time.Minute)
	k := newKubelets(client, ec2, factory)
	factory.Start(ctx.Done())
	for informer, synced := range factory.WaitForCacheSync(ctx.Done()) {
		if !synced {
			return fmt.Errorf("cache of %v did not sync", informer)
		}
	}
	fmt.Println(`{"ready":true}`)
	k.run(ctx)
	return nil
}
