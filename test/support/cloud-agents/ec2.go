package main

// A minimal EC2 Query API client for the emulator (moto): the agents need five calls, and the
// AWS SDK for Go's EC2 package would add minutes to a cold build for them. moto does not check
// signatures, so requests carry a well-formed but unsigned Authorization header.

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const ec2APIVersion = "2016-11-15"

type ec2Client struct {
	endpoint string
	region   string
	http     *http.Client
}

func newEC2Client(endpoint, region string) *ec2Client {
	return &ec2Client{endpoint: endpoint, region: region, http: &http.Client{Timeout: 20 * time.Second}}
}

// ec2Error is an error answer of the EC2 API, with its code (InvalidInstanceID.NotFound, ...).
type ec2Error struct {
	Action  string
	Code    string
	Message string
}

func (e *ec2Error) Error() string {
	return fmt.Sprintf("EC2 %s: %s: %s", e.Action, e.Code, e.Message)
}

func isEC2Error(err error, code string) bool {
	e, ok := err.(*ec2Error)
	return ok && e.Code == code
}

func (c *ec2Client) call(ctx context.Context, action string, params url.Values, out any) error {
	params.Set("Action", action)
	params.Set("Version", ec2APIVersion)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(params.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Authorization", fmt.Sprintf(
		"AWS4-HMAC-SHA256 Credential=testing/%s/%s/ec2/aws4_request, SignedHeaders=host, Signature=0",
		time.Now().UTC().Format("20060102"), c.region))
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("EC2 %s: %w", action, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("EC2 %s: reading the answer: %w", action, err)
	}
	if resp.StatusCode >= 300 {
		var failure struct {
			Errors []struct {
				Code    string `xml:"Code"`
				Message string `xml:"Message"`
			} `xml:"Errors>Error"`
		}
		if xml.Unmarshal(body, &failure) == nil && len(failure.Errors) > 0 {
			return &ec2Error{Action: action, Code: failure.Errors[0].Code, Message: failure.Errors[0].Message}
		}
		return &ec2Error{Action: action, Code: "HTTP" + strconv.Itoa(resp.StatusCode), Message: string(body)}
	}
	if out == nil {
		return nil
	}
	return xml.Unmarshal(body, out)
}

// instance is what the agents need to know of an EC2 instance.
type instance struct {
	ID               string
	State            string // pending, running, stopping, stopped, shutting-down, terminated
	AvailabilityZone string
}

// describeInstances returns the instances EC2 knows among ids; an id it does not know is absent.
func (c *ec2Client) describeInstances(ctx context.Context, ids []string) (map[string]instance, error) {
	found := map[string]instance{}
	if len(ids) == 0 {
		return found, nil
	}
	// A filter, not InstanceId.N: EC2 fails the whole call when one id is unknown.
	params := url.Values{"Filter.1.Name": {"instance-id"}}
	for i, id := range ids {
		params.Set(fmt.Sprintf("Filter.1.Value.%d", i+1), id)
	}
	var answer struct {
		Instances []struct {
			ID    string `xml:"instanceId"`
			State string `xml:"instanceState>name"`
			Zone  string `xml:"placement>availabilityZone"`
		} `xml:"reservationSet>item>instancesSet>item"`
	}
	if err := c.call(ctx, "DescribeInstances", params, &answer); err != nil {
		return nil, err
	}
	for _, i := range answer.Instances {
		found[i.ID] = instance{ID: i.ID, State: i.State, AvailabilityZone: i.Zone}
	}
	return found, nil
}
