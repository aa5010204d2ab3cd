package main

// Simulated kubelets: one loop plays the kubelet of every Node labelled
// `ebs-volume-remediator.test/simulated-kubelet=true`, for as long as EC2 reports that Node's
// instance running. A kubelet dies with its instance: when EC2 reports the instance stopping,
// stopped, shutting down or gone, its heartbeats simply stop, as on AWS; when it runs again,
// they resume.
//
// A Node annotated `ebs-volume-remediator.test/kubelet-instance: <instance id>` is played by
// the kubelet of that instance instead of the one its providerID names: a new instance that got
// a terminated one's private IP, and so its DNS and Node name, adopted the Node object left
// behind (providerID is immutable, so it still names the dead instance), as a kubelet does when
// it registers under a name that exists.
//
// A Node annotated `ebs-volume-remediator.test/kubelet-hung: "true"` has a hung kubelet (a
// kernel hang, a dead kubelet, a partition): it stops as if its instance had died, while EC2
// still reports the instance running.
//
// What it does for a live node, as a kubelet would:
//   - registers the CSI drivers on the node: a CSINode for ebs.csi.aws.com and EKS Auto Mode's
//     ebs.csi.eks.amazonaws.com with the instance id as node id (what the external-attacher
//     reads);
//   - renews the node's Lease in kube-node-lease every 10 s and reports the Ready condition,
//     capacity and addresses;
//   - reports in node.status.volumesInUse the volumes of the pods bound to it;
//   - marks a pod Running and Ready once all its EBS CSI volumes are in
//     node.status.volumesAttached (written by the attach/detach controller);
//   - finishes a deleted pod: its containers "stop", its volumes leave volumesInUse, and the
//     pod object is removed (delete with grace period 0 and the pod's uid as precondition).

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/ptr"
)

const (
	simulatedKubeletLabel = "ebs-volume-remediator.test/simulated-kubelet"
	kubeletInstanceKey    = "ebs-volume-remediator.test/kubelet-instance"
	kubeletHungKey        = "ebs-volume-remediator.test/kubelet-hung"
	heartbeatInterval     = 10 * time.Second // the kubelet's default node status update frequency
	leaseDurationSeconds  = 40
)

// The EBS CSI drivers a node runs: the open-source one and EKS Auto Mode's, each registered
// with the instance id as its node id.
var ebsDrivers = []string{"ebs.csi.aws.com", "ebs.csi.eks.amazonaws.com"}

type kubelets struct {
	client kubernetes.Interface
	ec2    *ec2Client

	nodes corelisters.NodeLister
	pods  corelisters.PodLister
	pvcs  corelisters.PersistentVolumeClaimLister
	pvs   corelisters.PersistentVolumeLister

	instanceStates map[string]string // instance id -> EC2 state, refreshed every round
	lastHeartbeat  map[string]time.Time
	reportedInUse  map[string][]corev1.UniqueVolumeName
	csiNodeDone    map[string]string // node name -> the instance id its CSINode names
}

func newKubelets(client kubernetes.Interface, ec2 *ec2Client, factory informers.SharedInformerFactory) *kubelets {
	return &kubelets{
		client:         client,
		ec2:            ec2,
		nodes:          factory.Core().V1().Nodes().Lister(),
		pods:           factory.Core().V1().Pods().Lister(),
		pvcs:           factory.Core().V1().PersistentVolumeClaims().Lister(),
		pvs:            factory.Core().V1().PersistentVolumes().Lister(),
		instanceStates: map[string]string{},
		lastHeartbeat:  map[string]time.Time{},
		reportedInUse:  map[string][]corev1.UniqueVolumeName{},
		csiNodeDone:    map[string]string{},
	}
}

func (k *kubelets) run(ctx context.Context) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		if err := k.round(ctx); err != nil {
			log.Printf("kubelets: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (k *kubelets) round(ctx context.Context) error {
	selector := labels.SelectorFromSet(labels.Set{simulatedKubeletLabel: "true"})
	nodes, err := k.nodes.List(selector)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(nodes))
	for _, node := range nodes {
		if id := kubeletInstanceOf(node); id != "" {
			ids = append(ids, id)
		}
	}
	instances, err := k.ec2.describeInstances(ctx, ids)
	if err != nil {
		return fmt.Errorf("asking EC2 which instances run: %w", err)
	}
	for _, node := range nodes {
		inst, ok := instances[kubeletInstanceOf(node)]
		hung := node.Annotations[kubeletHungKey] == "true"
		if !ok || inst.State != "running" || hung {
			if k.lastHeartbeat[node.Name] != (time.Time{}) {
				why := "its instance is " + stateOrGone(inst, ok)
				if hung && ok && inst.State == "running" {
					why = "it hangs while its instance runs"
				}
				log.Printf("kubelet of %s stops: %s", node.Name, why)
				delete(k.lastHeartbeat, node.Name)
			}
			continue
		}
		if err := k.syncNode(ctx, node); err != nil {
			log.Printf("kubelet of %s: %v", node.Name, err)
		}
	}
	return nil
}

func stateOrGone(inst instance, ok bool) string {
	if !ok {
		return "gone"
	}
	return inst.State
}

// kubeletInstanceOf is the instance whose kubelet plays the node: the one that adopted it, or
// the one its providerID names.
func kubeletInstanceOf(node *corev1.Node) string {
	if id := node.Annotations[kubeletInstanceKey]; id != "" {
		return id
	}
	return instanceIDOf(node)
}

// instanceIDOf reads the instance id from providerID aws:///<zone>/<instance-id>.
func instanceIDOf(node *corev1.Node) string {
	id := node.Spec.ProviderID[strings.LastIndex(node.Spec.ProviderID, "/")+1:]
	if !strings.HasPrefix(id, "i-") {
		return ""
	}
	return id
}

func (k *kubelets) syncNode(ctx context.Context, node *corev1.Node) error {
	if instance := kubeletInstanceOf(node); k.csiNodeDone[node.Name] != instance {
		if err := k.registerCSIDriver(ctx, node, instance); err != nil {
			return fmt.Errorf("registering the CSI driver: %w", err)
		}
		k.csiNodeDone[node.Name] = instance
	}
	pods, err := k.podsOn(node.Name)
	if err != nil {
		return err
	}
	inUse := k.volumesInUse(pods)
	if time.Since(k.lastHeartbeat[node.Name]) >= heartbeatInterval || !slices.Equal(inUse, k.reportedInUse[node.Name]) {
		if err := k.renewLease(ctx, node); err != nil {
			return fmt.Errorf("renewing the lease: %w", err)
		}
		if err := k.reportStatus(ctx, node, inUse); err != nil {
			return fmt.Errorf("reporting node status: %w", err)
		}
		k.lastHeartbeat[node.Name] = time.Now()
		k.reportedInUse[node.Name] = inUse
	}
	attached := map[corev1.UniqueVolumeName]bool{}
	for _, v := range node.Status.VolumesAttached {
		attached[v.Name] = true
	}
	reported := map[corev1.UniqueVolumeName]bool{}
	for _, v := range k.reportedInUse[node.Name] {
		reported[v] = true
	}
	for _, pod := range pods {
		switch {
		case pod.DeletionTimestamp != nil:
			if err := k.finishPod(ctx, pod); err != nil {
				log.Printf("kubelet of %s: finishing pod %s/%s: %v", node.Name, pod.Namespace, pod.Name, err)
			}
		case pod.Status.Phase == corev1.PodPending:
			ready := true
			for _, v := range k.podVolumes(pod) {
				ready = ready && attached[v] && reported[v]
			}
			if ready {
				if err := k.startPod(ctx, node, pod); err != nil {
					log.Printf("kubelet of %s: starting pod %s/%s: %v", node.Name, pod.Namespace, pod.Name, err)
				}
			}
		}
	}
	return nil
}

func (k *kubelets) podsOn(nodeName string) ([]*corev1.Pod, error) {
	all, err := k.pods.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	for _, pod := range all {
		if pod.Spec.NodeName == nodeName {
			pods = append(pods, pod)
		}
	}
	return pods, nil
}

// podVolumes returns the unique names of the pod's EBS CSI volumes, as the
// attach/detach controller names them.
func (k *kubelets) podVolumes(pod *corev1.Pod) []corev1.UniqueVolumeName {
	var names []corev1.UniqueVolumeName
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		pvc, err := k.pvcs.PersistentVolumeClaims(pod.Namespace).Get(v.PersistentVolumeClaim.ClaimName)
		if err != nil || pvc.Spec.VolumeName == "" {
			continue
		}
		pv, err := k.pvs.Get(pvc.Spec.VolumeName)
		if err != nil || pv.Spec.CSI == nil || !slices.Contains(ebsDrivers, pv.Spec.CSI.Driver) {
			continue
		}
		// The attach/detach controller's name for a CSI volume.
		names = append(names, corev1.UniqueVolumeName("kubernetes.io/csi/"+pv.Spec.CSI.Driver+"^"+pv.Spec.CSI.VolumeHandle))
	}
	return names
}

// volumesInUse: every volume of a pod still bound to the node, until that pod is gone.
func (k *kubelets) volumesInUse(pods []*corev1.Pod) []corev1.UniqueVolumeName {
	var inUse []corev1.UniqueVolumeName
	for _, pod := range pods {
		inUse = append(inUse, k.podVolumes(pod)...)
	}
	slices.Sort(inUse)
	return slices.Compact(inUse)
}

// registerCSIDriver writes the CSINode as the EBS CSI node plugins register it: each driver
// with this instance's id as node id (an adopting instance's plugins register their own).
func (k *kubelets) registerCSIDriver(ctx context.Context, node *corev1.Node, instance string) error {
	drivers := make([]storagev1.CSINodeDriver, 0, len(ebsDrivers))
	for _, name := range ebsDrivers {
		drivers = append(drivers, storagev1.CSINodeDriver{
			Name:         name,
			NodeID:       instance,
			TopologyKeys: []string{"topology.ebs.csi.aws.com/zone"},
			Allocatable:  &storagev1.VolumeNodeResources{Count: ptr.To[int32](25)},
		})
	}
	csiNodes := k.client.StorageV1().CSINodes()
	_, err := csiNodes.Create(ctx, &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{
			Name: node.Name,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
			}},
		},
		Spec: storagev1.CSINodeSpec{Drivers: drivers},
	}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	// A driver entry is immutable: the old instance's entries are removed, then the new ones
	// added, as when plugins deregister and others register.
	existing, err := csiNodes.Get(ctx, node.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	registered := map[string]string{}
	for _, d := range existing.Spec.Drivers {
		registered[d.Name] = d.NodeID
	}
	upToDate := true
	for _, d := range drivers {
		upToDate = upToDate && registered[d.Name] == d.NodeID
	}
	if upToDate {
		return nil
	}
	existing.Spec.Drivers = slices.DeleteFunc(existing.Spec.Drivers, func(d storagev1.CSINodeDriver) bool {
		return slices.Contains(ebsDrivers, d.Name)
	})
	if existing, err = csiNodes.Update(ctx, existing, metav1.UpdateOptions{}); err != nil {
		return err
	}
	existing.Spec.Drivers = append(existing.Spec.Drivers, drivers...)
	_, err = csiNodes.Update(ctx, existing, metav1.UpdateOptions{})
	return err
}

func (k *kubelets) renewLease(ctx context.Context, node *corev1.Node) error {
	leases := k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, node.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: node.Name,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				}},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(node.Name),
				LeaseDurationSeconds: ptr.To[int32](leaseDurationSeconds),
				RenewTime:            &now,
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

func (k *kubelets) reportStatus(ctx context.Context, cached *corev1.Node, inUse []corev1.UniqueVolumeName) error {
	node := cached.DeepCopy()
	now := metav1.Now()
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node.Status.Capacity = resources
	node.Status.Allocatable = resources
	node.Status.Phase = corev1.NodeRunning
	node.Status.VolumesInUse = inUse
	node.Status.NodeInfo.KubeletVersion = "v1.35.4"
	node.Status.NodeInfo.OperatingSystem = "linux"
	node.Status.NodeInfo.Architecture = "amd64"
	if len(node.Status.Addresses) == 0 {
		node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: node.Name}}
	}
	ready := corev1.NodeCondition{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "simulated kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
	}
	replaced := false
	for i, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				ready.LastTransitionTime = c.LastTransitionTime
			}
			node.Status.Conditions[i] = ready
			replaced = true
		}
	}
	if !replaced {
		node.Status.Conditions = append(node.Status.Conditions, ready)
	}
	_, err := k.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

func (k *kubelets) startPod(ctx context.Context, node *corev1.Node, cached *corev1.Pod) error {
	pod := cached.DeepCopy()
	now := metav1.Now()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.StartTime = &now
	pod.Status.HostIP = nodeInternalIP(node)
	pod.Status.PodIP = "10.244.0.1"
	pod.Status.Conditions = nil
	for _, t := range []corev1.PodConditionType{
		corev1.PodScheduled, "PodReadyToStartContainers", corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady,
	} {
		pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{
			Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now,
		})
	}
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: ptr.To(true),
			ContainerID: fmt.Sprintf("containerd://%s-%s", pod.UID, c.Name),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err := k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}

// finishPod removes a deleted pod once its containers have stopped, as the kubelet does.
func (k *kubelets) finishPod(ctx context.Context, pod *corev1.Pod) error {
	err := k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func nodeInternalIP(node *corev1.Node) string {
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}
