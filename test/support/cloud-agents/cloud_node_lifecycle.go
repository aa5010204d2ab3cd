package main

// The node lifecycle part of a cloud-controller-manager (k8s.io/cloud-provider
// controllers/nodelifecycle), for Nodes labelled `ebs-volume-remediator.test/cloud-node-lifecycle=true`:
// EKS runs it, many self-managed clusters do not, so tests switch it on per cluster.
// Every 5 s (its --node-monitor-period), for each such Node whose Ready condition is not True:
// an instance EC2 reports terminated, or no longer knows, has its Node deleted; a stopped one
// gets the taint node.cloudprovider.kubernetes.io/shutdown:NoSchedule, which is removed once
// the Node is Ready again.

import (
	"context"
	"log"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

const (
	cloudNodeLifecycleLabel = "ebs-volume-remediator.test/cloud-node-lifecycle"
	shutdownTaintKey        = "node.cloudprovider.kubernetes.io/shutdown"
	nodeMonitorPeriod       = 5 * time.Second
)

type cloudNodeLifecycle struct {
	client kubernetes.Interface
	ec2    *ec2Client
	nodes  corelisters.NodeLister
}

func (c *cloudNodeLifecycle) run(ctx context.Context) {
	ticker := time.NewTicker(nodeMonitorPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if err := c.monitorNodes(ctx); err != nil {
			log.Printf("cloud node lifecycle: %v", err)
		}
	}
}

func (c *cloudNodeLifecycle) monitorNodes(ctx context.Context) error {
	nodes, err := c.nodes.List(labels.SelectorFromSet(labels.Set{cloudNodeLifecycleLabel: "true"}))
	if err != nil {
		return err
	}
	var ids []string
	for _, node := range nodes {
		if id := instanceIDOf(node); id != "" {
			ids = append(ids, id)
		}
	}
	instances, err := c.ec2.describeInstances(ctx, ids)
	if err != nil {
		return err
	}
	for _, node := range nodes {
		inst, known := instances[instanceIDOf(node)]
		shutdown := known && inst.State == "stopped"
		if isReady(node) {
			if hasTaint(node, shutdownTaintKey) {
				c.setShutdownTaint(ctx, node, false)
			}
			continue
		}
		if shutdown && !hasTaint(node, shutdownTaintKey) {
			c.setShutdownTaint(ctx, node, true)
		}
		if !known || inst.State == "terminated" {
			err := c.client.CoreV1().Nodes().Delete(ctx, node.Name, metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: &node.UID},
			})
			if err != nil && !apierrors.IsNotFound(err) {
				log.Printf("cloud node lifecycle: deleting node %s: %v", node.Name, err)
			} else {
				log.Printf("cloud node lifecycle: deleted node %s: its instance is %s", node.Name, stateOrGone(inst, known))
			}
		}
	}
	return nil
}

func (c *cloudNodeLifecycle) setShutdownTaint(ctx context.Context, cached *corev1.Node, present bool) {
	node := cached.DeepCopy()
	var taints []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Key != shutdownTaintKey {
			taints = append(taints, t)
		}
	}
	if present {
		taints = append(taints, corev1.Taint{Key: shutdownTaintKey, Effect: corev1.TaintEffectNoSchedule})
	}
	node.Spec.Taints = taints
	if _, err := c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		log.Printf("cloud node lifecycle: tainting node %s: %v", node.Name, err)
	}
}

func isReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasTaint(node *corev1.Node, key string) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
