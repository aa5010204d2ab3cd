/**
 * The tag a fenced instance gets, before it is stopped or terminated: its value is when (ISO
 * 8601). It is the fence rate limit's memory, kept on the instances themselves: every invocation
 * reads it with one DescribeInstances, it needs no store of its own, it outlives the Node (a
 * terminated instance's Node is deleted; the instance stays visible for about an hour), and it
 * tells whoever looks at the instance later who stopped it and when. The construct's IAM policy
 * lets the functions write this tag key and no other. Constants only.
 */
export const fencedAtTag = 'ebs-volume-remediator/fenced-at';
